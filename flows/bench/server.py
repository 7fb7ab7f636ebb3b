"""A Prefect server of its own, on a free port, for the fan-out benchmark and the flow tests.

Every run gets a fresh PREFECT_HOME and none of the caller's PREFECT_ or VIDFLOW_ settings,
so nothing leaks in from the shell or from another run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PREFECT = [sys.executable, "-m", "prefect"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolated_env(home: Path) -> dict[str, str]:
    """This process's environment less every PREFECT_ and VIDFLOW_ setting, plus a server
    home under `home`, no analytics or UI, workers that ask for work every second (the
    README's worker setting), and this interpreter's bin first on PATH (workers run
    `python -m prefect.engine`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "VIDFLOW_"))}
    return env | {
        "PREFECT_HOME": str(home / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }


def start_server(env: dict[str, str], log: Path, timeout_s: float = 300) -> subprocess.Popen[bytes]:
    """`prefect server start` on a free port, with `env` (which gains PREFECT_API_URL), its
    output in `log`; returns once /health answers. A server that exits or does not answer
    within `timeout_s` is stopped, and the error carries the end of its log."""
    port = free_port()
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    env["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{env['PREFECT_API_URL']}/health", timeout=2):
                return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(
                    f"the Prefect server did not start:\n{log.read_text()[-2000:]}"
                ) from None
            time.sleep(0.5)
