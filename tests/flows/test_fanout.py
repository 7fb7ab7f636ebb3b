"""Fan-out for real: a Prefect server on PostgreSQL, two process workers, tiny jobs.

Checks the promises of issue 17 end to end: every job of a fanned-out batch is published
once; two runs of the same files at the same time make each job once; a worker killed in
the middle of a shard loses nothing (its shard is resubmitted, its claims lapse and are
taken over). "Made once" is counted by Prefect itself: the `publish` task runs, named by
job hash, that completed on the server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    TaskRunFilter,
    TaskRunFilterName,
)

from flows.bench.server import PREFECT, free_port, isolated_env, start_server
from vidflow.manifest import Manifest, RunReport

REPO = Path(__file__).resolve().parents[2]
VIDFLOW = [sys.executable, "-m", "vidflow.cli"]
LEASE_S = "10"
pytestmark = pytest.mark.slow


def postgres_bin() -> Path | None:
    """The PostgreSQL server binaries (Debian keeps them off PATH, per major version)."""
    found = shutil.which("initdb")
    if found:  # a symlink on PATH: the rest lies beside its target
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    return versions[-1].parent if versions else None


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every process below it (a worker and its flow runs)."""
    try:
        parent = psutil.Process(pid)
        procs = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=20)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free port, with the test's own database."""
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = Path(tempfile.mkdtemp(prefix="vidflow-pg-"))
    if as_user:
        shutil.chown(data, "postgres")
    port = free_port()

    def pg(*args: str) -> None:
        done = subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=120,
                              check=False)  # fmt: skip
        assert done.returncode == 0, f"{args[0]}: {done.stdout[-1500:]}{done.stderr[-1500:]}"

    try:
        pg(str(bindir / "initdb"), "-D", str(data / "db"), "-U", "postgres", "-A", "trust")
        options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
        pg(str(bindir / "pg_ctl"), "-D", str(data / "db"), "-o", options,
           "-l", str(data / "log"), "-w", "-t", "120", "start")  # fmt: skip
        pg(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
           "vidflow_fanout")  # fmt: skip
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/vidflow_fanout"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data / "db"), "-m",
                        "immediate", "stop"], capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(data, ignore_errors=True)


class Pool:
    """A Prefect server on PostgreSQL, the gpu pool, the shard deployment and two workers."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env
        self.workers: dict[str, subprocess.Popen[bytes]] = {}

    def prefect(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run([*PREFECT, *args], env=self.env, cwd=REPO, capture_output=True,
                                text=True, timeout=timeout, check=False)  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result.stdout

    def start_worker(self, name: str) -> None:
        log = (self.home / f"{name}.log").open("ab")
        self.workers[name] = subprocess.Popen(
            [*PREFECT, "worker", "start", "--pool", "gpu", "--limit", "1", "--name", name],
            env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def run(self, prompts: Path, store: Path, *extra: str) -> subprocess.Popen[str]:
        """`vidflow run` as a GitHub runner would: moderate here, generate on the pool."""
        env = self.env | {
            "VIDFLOW_PROMPTS_DIR": str(prompts),
            "VIDFLOW_ARTIFACTS_DIR": str(store),
            "VIDFLOW_FANOUT_DEPLOYMENT": "generate-shard/shard",
        }
        return subprocess.Popen([*VIDFLOW, "run", "--json", *extra], env=env, cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip

    def publishes(self) -> Counter[str]:
        """Completed `publish` task runs per job hash prefix, as the server recorded them."""
        with SyncPrefectClient(self.env["PREFECT_API_URL"]) as client:
            runs = client.read_task_runs(
                task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="publish-")),
                limit=200,
            )
        return Counter(r.name.removeprefix("publish-") for r in runs if r.state and
                       r.state.is_completed())  # fmt: skip


@pytest.fixture(scope="module")
def pool(
    postgres_url: str, tmp_path_factory: pytest.TempPathFactory, session_cache: Path
) -> Iterator[Pool]:
    home = tmp_path_factory.mktemp("fanout")
    env = isolated_env(home) | {
        "PREFECT_WORKER_HEARTBEAT_SECONDS": "5",
        "PREFECT_API_DATABASE_CONNECTION_URL": postgres_url,
        "VIDFLOW_CACHE_DIR": str(session_cache),
        "VIDFLOW_CLAIM_LEASE_S": LEASE_S,
        # One torch thread per worker: two workers share this machine's cores.
        "OMP_NUM_THREADS": "1",
    }
    server = start_server(env, home / "server.log", timeout_s=240)
    pool = Pool(home, env)
    try:
        pool.prefect("work-pool", "create", "gpu", "--type", "process")
        pool.prefect("--no-prompt", "deploy", "--name", "shard")
        for name in ("worker-a", "worker-b"):
            pool.start_worker(name)
        yield pool
    finally:
        for worker in pool.workers.values():
            kill_tree(worker.pid)
        kill_tree(server.pid)


def write_jobs(folder: Path, tag: str, count: int) -> Path:
    prompts = folder / "prompts"
    prompts.mkdir(parents=True)
    jobs = "\n".join(
        f"  - {{id: {tag}{i}, prompt: 'a {tag} boat number {i} at dawn', seed: {i}}}"
        for i in range(count)
    )
    (prompts / f"{tag}.yaml").write_text(
        f"defaults: {{num_frames: 5, steps: 1, width: 256, height: 256}}\njobs:\n{jobs}\n"
    )
    return prompts


def finish(process: subprocess.Popen[str], timeout: float = 420) -> RunReport:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-4000:]
    return RunReport.model_validate_json(out[out.index("{") :])


def ledger(store: Path) -> dict[str, Manifest]:
    return {
        p.stem: Manifest.model_validate_json(p.read_text())
        for p in (store / "ledger").glob("*.json")
    }


def test_a_batch_fans_out_to_both_workers_and_each_job_is_published_once(
    pool: Pool, tmp_path: Path
) -> None:
    prompts, store = write_jobs(tmp_path, "fan", 4), tmp_path / "store"
    report = finish(pool.run(prompts, store))
    assert [m.status for m in report.manifests] == ["published"] * 4
    # Two online workers: two shards, each a flow run of the shard deployment.
    shards = sorted(p.name for p in (store / "runs" / report.run_id).glob("shard-*.json"))
    assert shards == ["shard-0.json", "shard-1.json"]
    assert shard_tries(store, report.run_id) == ["try-0", "try-0"], "no shard resubmitted"
    finished = ledger(store)
    assert set(finished) == {m.job_hash for m in report.manifests}
    for manifest in report.manifests:
        assert (store / "published" / f"{manifest.job_id}.mp4").stat().st_size > 0
    counts = pool.publishes()
    assert all(counts[m.job_hash[:16]] == 1 for m in report.manifests), counts
    assert (store / "latest-run.json").exists() and (store / "index.html").exists()


def test_two_concurrent_runs_of_the_same_files_make_each_job_once(
    pool: Pool, tmp_path: Path
) -> None:
    prompts, store = write_jobs(tmp_path, "twin", 4), tmp_path / "store"
    first = pool.run(prompts, store)
    second = pool.run(prompts, store)
    reports = [finish(first), finish(second)]
    hashes = {m.job_hash for m in reports[0].manifests}
    assert len(hashes) == 4
    for report in reports:
        assert sorted(m.status for m in report.manifests) == ["published"] * 4
    made = Counter(m.job_hash for r in reports for m in r.manifests if not m.reused)
    assert made == Counter(dict.fromkeys(hashes, 1)), "each job made by exactly one run"
    counts = pool.publishes()
    assert all(counts[h[:16]] == 1 for h in hashes), counts
    assert set(ledger(store)) == hashes


def test_killing_a_worker_mid_shard_loses_no_job_and_makes_none_twice(
    pool: Pool, tmp_path: Path
) -> None:
    prompts, store = write_jobs(tmp_path, "kill", 6), tmp_path / "store"
    parent = pool.run(prompts, store)
    victim = pool.workers["worker-a"]
    # Kill worker-a once it is generating (it holds a job claim) and has a job left.
    deadline = time.monotonic() + 300
    while True:
        assert time.monotonic() < deadline, "worker-a never started a shard"
        assert parent.poll() is None, parent.communicate()[1][-3000:]
        busy = [p for p in victim_children(victim.pid) if "prefect.engine" in " ".join(p)]
        if busy and (store / "claims").exists() and len(ledger(store)) < 4:
            break
        time.sleep(0.2)
    kill_tree(victim.pid)
    report = finish(parent, timeout=600)
    hashes = {m.job_hash for m in report.manifests}
    assert len(hashes) == 6 and all(m.status == "published" for m in report.manifests)
    assert set(ledger(store)) == hashes, "0 lost"
    counts = pool.publishes()
    assert all(counts[h[:16]] <= 1 for h in hashes), f"0 made twice: {counts}"
    assert all((store / "published" / f"{m.job_id}.mp4").exists() for m in report.manifests)
    assert "try-1" in shard_tries(store, report.run_id), "the killed worker's shard ran again"
    pool.start_worker("worker-a")  # leave the pool as it was


def shard_tries(store: Path, run_id: str) -> list[str]:
    """Which try of each shard wrote its report (shard-<n>-try-<a>)."""
    reports = sorted((store / "runs" / run_id).glob("shard-*.json"))
    return [RunReport.model_validate_json(p.read_text()).run_id[-5:] for p in reports]


def victim_children(pid: int) -> list[list[str]]:
    try:
        return [p.cmdline() for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def test_a_fan_out_to_a_pool_without_workers_fails_naming_the_pool(
    pool: Pool, tmp_path: Path
) -> None:
    """No worker ever comes: the parent stops after the grace, and no shard is left queued."""
    with SyncPrefectClient(pool.env["PREFECT_API_URL"]) as client:
        client.create_work_pool(WorkPoolCreate(name="idle", type="process"))
        flow_id = client.create_flow_from_name("generate-shard")
        deployment = client.create_deployment(
            flow_id=flow_id, name="idle", work_pool_name="idle",
            entrypoint="flows/generate.py:generate_shard",
        )  # fmt: skip
    prompts, store = write_jobs(tmp_path, "idle", 2), tmp_path / "store"
    started = time.monotonic()
    run = subprocess.Popen(
        [*VIDFLOW, "run", "--json"],
        env=pool.env | {
            "VIDFLOW_PROMPTS_DIR": str(prompts), "VIDFLOW_ARTIFACTS_DIR": str(store),
            "VIDFLOW_FANOUT_DEPLOYMENT": "generate-shard/idle",
            "VIDFLOW_FANOUT_WORKER_GRACE_S": "6",
        },
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _, err = run.communicate(timeout=300)
    assert run.returncode == 3, err[-3000:]  # a configuration error, not a traceback
    assert "work pool 'idle' has had no online worker for 6 s" in err, err[-3000:]
    assert time.monotonic() - started < 120
    with SyncPrefectClient(pool.env["PREFECT_API_URL"]) as client:
        shards = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment]))
        )
    assert shards and all(r.state and r.state.is_cancelled() for r in shards)
