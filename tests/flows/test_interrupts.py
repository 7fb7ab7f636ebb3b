"""SIGTERM and Ctrl-C stop a run within seconds and leave no process behind: not the
generation child, not Prefect's temporary server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# Long enough on a CPU that the signal always lands while the child is generating.
SLOW_JOB = "prompt: a calm lake at dawn\nnum_frames: 33\nsteps: 40\n"


def session_processes(sid: int) -> list[str]:
    """Command lines of every live process in session `sid` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            found.append(cmdline)
    return found


def start_run(env_root: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PREFECT_HOME": str(env_root / "prefect-home"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "vidflow.cli", "run"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # A shell's background job inherits SIGINT ignored; a terminal's run does not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )


def wait_for_generation(process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, stderr = process.communicate()
            raise AssertionError(f"the run ended first:\n{stderr.decode()[-3000:]}")
        if any("spawn_main" in cmd for cmd in session_processes(process.pid)):
            time.sleep(2)  # well inside the first denoising steps
            return
        time.sleep(0.2)
    raise AssertionError("the generation child never started")


@pytest.mark.parametrize(
    ("how", "code"),
    [("sigterm-to-the-run", 143), ("ctrl-c-to-the-process-group", 130)],
)
def test_a_signal_stops_the_run_and_every_process_it_started(
    vidflow_env: Path, how: str, code: int
) -> None:
    (vidflow_env / "prompts" / "lake.yaml").write_text(SLOW_JOB)
    process = start_run(vidflow_env)
    try:
        wait_for_generation(process)
        sent = time.monotonic()
        if how == "sigterm-to-the-run":
            os.kill(process.pid, signal.SIGTERM)
        else:
            os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    print(f"{how}: exit {process.returncode} {took:.1f} s after the signal")
    time.sleep(1)
    left = session_processes(process.pid)
    assert left == [], left
    assert process.returncode == code, stderr.decode()[-2000:]
    assert took < 20, f"took {took:.1f} s to stop"
    assert b"Traceback" not in stderr
    assert not (vidflow_env / "artifacts" / "published" / "lake.mp4").exists()
    # The run report is written even for an interrupted run.
    assert (vidflow_env / "artifacts" / "latest-run.json").exists()
