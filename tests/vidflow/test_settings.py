"""The CPU budget: VIDFLOW_CPU_THREADS, else the cores the process may run on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from vidflow.settings import Settings

BUDGET = "from vidflow.settings import Settings; print(Settings().cpu_budget())"


def test_the_setting_is_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDFLOW_CPU_THREADS", "3")
    assert Settings().cpu_budget() == 3


@pytest.mark.skipif(shutil.which("taskset") is None, reason="needs taskset (util-linux)")
def test_without_the_setting_a_pinned_worker_gets_its_cores() -> None:
    env = {k: v for k, v in os.environ.items() if k != "VIDFLOW_CPU_THREADS"}
    pinned = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", BUDGET], env=env,
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert pinned.stdout.strip() == "1"
    free = subprocess.run([sys.executable, "-c", BUDGET], env=env, capture_output=True,
                          text=True, check=True)  # fmt: skip
    assert free.stdout.strip() == str(len(os.sched_getaffinity(0)))


def test_prefect_telemetry_is_off_unless_the_user_turns_it_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.settings import Settings as PrefectSettings

    from vidflow.cli import main

    monkeypatch.delenv("PREFECT_SERVER_ANALYTICS_ENABLED", raising=False)
    assert PrefectSettings().server.analytics_enabled  # Prefect's own default
    with pytest.raises(SystemExit):
        main(["--version"])
    # The name is the one Prefect reads: its temporary server, started from this process's
    # environment, runs without the telemetry service.
    assert PrefectSettings().server.analytics_enabled is False
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "true")
    with pytest.raises(SystemExit):
        main(["--version"])
    assert PrefectSettings().server.analytics_enabled is True


@pytest.mark.parametrize("given", [None, "7"])
def test_the_temporary_server_gets_time_to_start_unless_the_user_says_otherwise(
    given: str | None,
) -> None:
    from vidflow.cli import EPHEMERAL_STARTUP_TIMEOUT_S

    name = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
    env = {k: v for k, v in os.environ.items() if k != name}
    if given is not None:
        env[name] = given
    # A fresh process, as a run is: Prefect fixes its settings when first imported, so the
    # default must be in place before then. The value printed is the one the server's start
    # waits on.
    code = (
        "from vidflow.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as s\n"
        "print(s.value())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert int(done.stdout.split()[-1]) == int(given or EPHEMERAL_STARTUP_TIMEOUT_S)
