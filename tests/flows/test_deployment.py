"""A real Prefect server, work pool, deployment and worker, all on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

from flows.bench.server import PREFECT, isolated_env, start_server
from flows.deploy import GPU_LIMIT, gpu_slot
from vidflow.manifest import Manifest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process and everything it started (it leads its own process group)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def server_env(tmp_path: Path, session_cache: Path) -> Iterator[dict[str, str]]:
    """A Prefect server on a free port with its own SQLite home; stopped by PID at the end."""
    env = isolated_env(tmp_path) | {
        "VIDFLOW_PROMPTS_DIR": str(tmp_path / "prompts"),
        "VIDFLOW_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "VIDFLOW_CACHE_DIR": str(session_cache),
    }
    server = start_server(env, tmp_path / "server.log", timeout_s=180)
    try:
        yield env
    finally:
        stop(server)


def run(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    result = subprocess.run(
        [*PREFECT, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_deployment_runs_through_a_real_server_and_worker(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "lake.yaml").write_text("prompt: a calm lake at dawn\nnum_frames: 9\nsteps: 2\n")
    # The README's set-up commands, for a host with one GPU.
    run(server_env, "work-pool", "create", "gpu", "--type", "process")
    run(server_env, "work-pool", "set-concurrency-limit", "gpu", "1")
    run(server_env, "gcl", "create", GPU_LIMIT, "--limit", "1")
    run(server_env, "--no-prompt", "deploy", "--name", "tiny-demo")
    # One worker per GPU, as the README starts them; here one for a GPU this CPU lacks.
    worker_env = server_env | {
        "VIDFLOW_GPUS": "0",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    worker_log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        ["bash", str(REPO / "scripts" / "start-gpu-workers.sh"), "gpu"],
        env=worker_env, cwd=REPO, stdout=worker_log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        out = run(server_env, "deployment", "run", "generate-videos/tiny-demo", "--watch",
                  "--watch-timeout", "300", timeout=330)  # fmt: skip
        assert "Completed" in out, out
    finally:
        stop(worker)
        worker_log.close()
    assert "worker for GPU 0" in (tmp_path / "worker.log").read_text()
    published = tmp_path / "artifacts" / "published"
    manifest = Manifest.model_validate_json((published / "lake.json").read_text())
    assert manifest.status == "published" and manifest.job["preset"] == "tiny"
    assert (published / "lake.mp4").stat().st_size > 0


@pytest.mark.usefixtures("prefect_harness")
def test_gpu_slot_lets_one_batch_at_a_time_hold_a_one_gpu_limit() -> None:
    held: list[tuple[float, float]] = []

    def batch() -> None:
        with gpu_slot(timeout_s=60):
            start = time.monotonic()
            time.sleep(1.0)
            held.append((start, time.monotonic()))

    with gpu_slot(timeout_s=5):  # no limit created yet: granted at once
        pass
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=GPU_LIMIT, limit=1)
        )
        try:
            threads = [threading.Thread(target=batch) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(90)
        finally:
            client.delete_global_concurrency_limit_by_name(GPU_LIMIT)
    assert len(held) == 2
    (_, first_end), (second_start, _) = sorted(held)
    assert second_start >= first_end, held
