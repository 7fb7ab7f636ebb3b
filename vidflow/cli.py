"""`vidflow` command line. Each area adds its own subcommands through `register(subparsers)`.

Exit codes mean one thing each (README, `make demo` and the workflow rely on them):
0 all done, 1 moderation or output safety stopped a job, 2 an invalid input or a failed
job, 3 a configuration or environment error, 130/143 interrupted (Ctrl-C / SIGTERM), 70 an
internal error (a bug: the traceback is printed).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from vidflow import __version__

EXIT_INVALID = 2
EXIT_CONFIG = 3
EXIT_INTERNAL = 70  # EX_SOFTWARE in sysexits.h
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


# After Ctrl-C or SIGTERM the run unwinds (child stopped, run report written) for at most
# this long; then whatever still waits, e.g. Prefect retrying a temporary server that the
# same Ctrl-C already stopped, is cut short.
STOP_GRACE_S = 10.0

# How long a run waits for Prefect's temporary server to start (see main).
EPHEMERAL_STARTUP_TIMEOUT_S = 180


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so every `finally` runs: the generation child is
    stopped and Prefect's temporary server shut down, instead of both left orphaned."""


def _children() -> list[int]:
    """Our own child processes (Linux /proc; elsewhere none are known)."""
    me = str(os.getpid())
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[1] == me:
            found.append(int(entry.name))
    return found


def _stop_soon(code: int, message: str) -> None:
    def stop() -> None:
        time.sleep(STOP_GRACE_S)
        for pid in _children():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        print(message, file=sys.stderr, flush=True)
        os._exit(code)

    threading.Thread(target=stop, name="vidflow-stop", daemon=True).start()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # A second signal of either kind ends the process at once.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if signum == signal.SIGTERM:
        _stop_soon(EXIT_TERMINATED, "terminated")
        raise Terminated
    _stop_soon(EXIT_INTERRUPTED, "interrupted")
    raise KeyboardInterrupt


def build_parser() -> argparse.ArgumentParser:
    from generation import cli as generation_cli
    from moderation import cli as moderation_cli
    from provenance import verify
    from vidflow import commands, review_commands

    parser = argparse.ArgumentParser(
        prog="vidflow",
        description="Prompt files in, moderated, watermarked, signed AI videos out.",
    )
    parser.add_argument("--version", action="version", version=f"vidflow {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.register(subparsers)
    generation_cli.register(subparsers)
    moderation_cli.register(subparsers)
    verify.register(subparsers)
    review_commands.register(subparsers)
    return parser


def _settings_error(exc: Exception) -> str | None:
    """One line naming the environment variable, for a pydantic error about settings."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError) or exc.title != "Settings":
        return None
    first = exc.errors()[0]
    name = "VIDFLOW_" + "_".join(str(part) for part in first["loc"]).upper()
    return f"setting {name}: {first['msg']}"


def main(argv: Sequence[str] | None = None) -> int:
    from vidflow.errors import ConfigError, ModelUnavailableError, SpecError, VidflowError, plain

    # Prefect's temporary server posts anonymous telemetry every ten minutes, from a service
    # that writes to its SQLite file: a runner has no reason to phone home (ours have no
    # network), and on a busy machine that write lost a lock race with the run's own and
    # printed a traceback during Ctrl-C. Off unless the user turns it on.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect waits 20 s for its temporary server. A fresh machine (new database, migrations
    # run, the server's modules imported from source) took 18 s on this 2-core CPU idle, and
    # over 20 s under load, so the first `vidflow run` failed with an internal error. A
    # longer wait costs nothing when the server is quick. The user's own value wins.
    os.environ.setdefault(
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(EPHEMERAL_STARTUP_TIMEOUT_S)
    )
    parser = build_parser()
    args = parser.parse_args(argv)
    in_main = threading.current_thread() is threading.main_thread()
    previous: dict[int, Any] = {}
    if in_main:
        previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, _on_signal)
        # Left ignored when started ignored (a background job of a script, nohup).
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, _on_signal)
    try:
        code = args.handler(args)
    except SpecError as exc:  # a bad input file: its name, job and field, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except (ConfigError, ModelUnavailableError) as exc:
        print(f"configuration error: {plain(exc)}", file=sys.stderr)
        return EXIT_CONFIG
    except VidflowError as exc:
        print(f"error: {plain(exc)}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except Exception as exc:  # noqa: BLE001 - a bug gets its own code, never read as a verdict
        line = _settings_error(exc)
        if line is not None:
            print(f"configuration error: {line}", file=sys.stderr)
            return EXIT_CONFIG
        traceback.print_exc()
        print(f"internal error: {plain(type(exc).__name__)}: {plain(exc)}", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
