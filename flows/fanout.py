"""Fan a batch out to a Prefect work pool: one flow run of the shard deployment per shard.

Why `run_deployment` of a deployment on the `gpu` pool, and not tasks on a task runner or
Prefect's background task workers: a work pool is what already puts one run on one GPU
(workers started one per GPU with `--limit 1`, on any number of hosts, process or
Kubernetes); each shard is then a flow run of its own, with its own logs, state, retries
and cancel button in the UI, and it outlives the parent's host. Task runners run inside the
parent's process (no GPUs there), and background task workers have no work-pool
concurrency, no infrastructure per run and no crash detection of their own.

The parent submits every shard (`timeout=0`), then watches them. A shard that ends in any
state but Completed, or whose liveness claim lapses (or never appears) while Prefect still
says Pending or Running (its worker was killed and nobody told the server), is marked
Crashed and submitted once more.
The resubmitted shard finds its finished jobs in the ledger and takes over the dead
worker's job claims once they lapse, so nothing finished is made again. A pool with no
online worker for `fanout_worker_grace_s` while shards wait to be taken fails the run with
a `ConfigError` naming the pool (its shards are cancelled), instead of waiting forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.objects import FlowRun, StateType, WorkerStatus
from prefect.context import FlowRunContext
from prefect.deployments import run_deployment
from prefect.states import Cancelled, Crashed

from flows.shards import split_jobs
from moderation.prompt_filter import Verdict
from vidflow.claims import Claims
from vidflow.errors import ConfigError
from vidflow.manifest import Manifest
from vidflow.settings import Settings
from vidflow.spec import Job
from vidflow.store import Store

logger = logging.getLogger(__name__)

POLL_S = 0.5
ATTEMPTS = 2  # the first run of a shard, and one resubmission
# A shard that is Pending or Running but has not claimed its liveness key after this long
# is dead.
START_GRACE_S = 120.0
WORKER_CHECK_S = 5.0  # how often the pool's workers are counted while a shard waits


def liveness_key(run_id: str, shard: int, attempt: int) -> str:
    """The claim a running shard holds (and renews) to show it is alive."""
    return f"shard-{run_id}-{shard}-try-{attempt}"


@dataclass
class Shard:
    index: int
    jobs: list[tuple[Job, Verdict]]
    attempt: int = 0
    flow_run_id: UUID | None = None
    running_since: float | None = None
    state: str | None = "Scheduled"
    manifests: list[Manifest] = field(default_factory=list)
    done: bool = False

    def progress(self, finished: int, total: int) -> str:
        """One line for the log and the job summary when the shard is over."""
        counts: dict[str, int] = {}
        for manifest in self.manifests:
            counts[manifest.status] = counts.get(manifest.status, 0) + 1
        statuses = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        tries = f" after {self.attempt + 1} tries" if self.attempt else ""
        return f"- shard {self.index}{tries}: {statuses}; {finished}/{total} jobs done"


def online_workers(client: Any, pool: str) -> int:
    """Workers of `pool` the server counts as online (heartbeat within its window)."""
    workers = client.read_workers_for_work_pool(pool)
    return sum(1 for w in workers if w.status == WorkerStatus.ONLINE)


def pool_slots(deployment: str) -> int:
    """GPUs to plan for: the online workers of the deployment's work pool (at least 1)."""
    with get_client(sync_client=True) as client:
        pool = client.read_deployment_by_name(deployment).work_pool_name
        return 1 if pool is None else max(1, online_workers(client, pool))


class PoolWatch:
    """How long the pool has had no online worker, counted while a shard waits for one."""

    def __init__(self, pool: str | None, grace_s: float) -> None:
        self.pool = pool
        self.grace_s = grace_s
        self.checked = 0.0
        self.unattended_since: float | None = None

    def unattended(self, client: Any) -> bool:
        """True once no worker of the pool has been online for the grace."""
        now = time.monotonic()
        if self.pool is None or now - self.checked < WORKER_CHECK_S:
            return False
        self.checked = now
        if online_workers(client, self.pool):
            self.unattended_since = None
            return False
        self.unattended_since = self.unattended_since or now
        return now - self.unattended_since >= self.grace_s


def runs_on_the_pool(deployment: str) -> bool:
    """True when this flow run was itself taken by a worker of the shard deployment's pool.

    Such a run holds a GPU worker already: fanning out from it would leave one worker fewer
    for its own shards (and wait forever on a pool of one), so it generates in process.
    """
    context = FlowRunContext.get()
    here = context.flow_run.work_pool_name if context and context.flow_run else None
    if here is None:
        return False
    with get_client(sync_client=True) as client:
        return bool(client.read_deployment_by_name(deployment).work_pool_name == here)


def _submit(shard: Shard, deployment: str, run_id: str, store: Store) -> None:
    parameters: dict[str, Any] = {
        "run_id": run_id,
        "shard": shard.index,
        "attempt": shard.attempt,
        "jobs": [job.model_dump(mode="json") for job, _ in shard.jobs],
        "verdicts": [verdict.model_dump(mode="json") for _, verdict in shard.jobs],
        # A local folder by its absolute path: the worker's working folder differs.
        "store_url": store.url if store.local_root is None else str(store.local_root),
    }
    flow_run = run_deployment(
        deployment,
        parameters=parameters,
        timeout=0,
        flow_run_name=f"{run_id}-shard-{shard.index}-try-{shard.attempt}",
        tags=["vidflow", "shard"],
    )
    assert isinstance(flow_run, FlowRun)  # sync call: the run itself, not a coroutine
    shard.flow_run_id = flow_run.id
    shard.running_since = None
    shard.state = "Scheduled"


def _lapsed(shard: Shard, claims: Claims, run_id: str) -> str | None:
    """Why a Pending or Running shard is dead, or None while it looks alive."""
    claim = claims.current(liveness_key(run_id, shard.index, shard.attempt))
    if claim is not None:
        return f"its liveness claim lapsed ({claim.owner})" if claim.lapsed() else None
    assert shard.running_since is not None
    if time.monotonic() - shard.running_since > START_GRACE_S + claims.lease_s:
        return "it never claimed its liveness key"
    return None


def fan_out(
    jobs: list[tuple[Job, Verdict]],
    settings: Settings,
    store: Store,
    run_id: str,
    on_shard_done: Callable[[Shard, int], None],
) -> list[Manifest]:
    """Run the jobs as shards on the pool; return one manifest per job."""
    assert settings.fanout_deployment is not None
    deployment = settings.fanout_deployment
    slots = settings.fanout_slots or pool_slots(deployment)
    by_hash = {job.content_hash: (job, verdict) for job, verdict in jobs}
    groups = split_jobs([job for job, _ in jobs], slots)
    shards = [
        Shard(index=i, jobs=[by_hash[job.content_hash] for job in group])
        for i, group in enumerate(groups)
    ]
    logger.info("%d job(s) in %d shard(s) for %d GPU(s) via %s", len(jobs), len(shards),
                slots, deployment)  # fmt: skip
    for shard in shards:
        _submit(shard, deployment, run_id, store)
    # Reads the liveness claims only; the parent never holds one.
    claims = Claims(store, owner=f"{run_id}-parent", lease_s=settings.claim_lease_s)
    finished = 0
    with get_client(sync_client=True) as client:
        watch = PoolWatch(
            client.read_deployment_by_name(deployment).work_pool_name,
            settings.fanout_worker_grace_s,
        )
        while not all(shard.done for shard in shards):
            time.sleep(POLL_S)
            waiting = [s for s in shards if not s.done and s.state in ("Scheduled", "Late")]
            if waiting and watch.unattended(client):
                _give_up(client, shards, deployment, watch)
            for shard in shards:
                if shard.done:
                    continue
                assert shard.flow_run_id is not None
                state = client.read_flow_run(shard.flow_run_id).state
                if state is None:
                    continue
                if state.name != shard.state:
                    logger.info("shard %d (try %d): %s", shard.index, shard.attempt, state.name)
                    shard.state = state.name
                dead: str | None = None
                # The report is written before the shard lets go of its liveness claim, so
                # a report means the shard's work is done, whatever state Prefect shows yet.
                report = store.shard_report(run_id, shard.index)
                if report is not None:
                    shard.manifests = report.manifests
                    shard.done = True
                elif state.type in (StateType.PENDING, StateType.RUNNING):
                    # Pending: a worker took it and is starting it. A worker killed then
                    # leaves it Pending for good, so the grace runs from here, not Running.
                    shard.running_since = shard.running_since or time.monotonic()
                    dead = _lapsed(shard, claims, run_id)
                    if dead:
                        client.set_flow_run_state(
                            shard.flow_run_id, Crashed(message=f"vidflow: {dead}"), force=True
                        )
                elif state.type == StateType.COMPLETED:
                    dead = "it completed without a shard report"
                elif state.is_final():
                    dead = f"it ended {state.name}: {state.message or ''}".strip()
                if shard.done:
                    finished += len(shard.manifests)
                    on_shard_done(shard, finished)
                elif dead and shard.attempt + 1 < ATTEMPTS:
                    logger.warning("shard %d: %s; submitting it again", shard.index, dead)
                    shard.attempt += 1
                    _submit(shard, deployment, run_id, store)
                elif dead:
                    logger.error("shard %d: %s, twice; its unfinished jobs fail", shard.index,
                                 dead)  # fmt: skip
                    shard.manifests = [
                        _unfinished(job, verdict, store, f"shard {shard.index}: {dead}")
                        for job, verdict in shard.jobs
                    ]
                    shard.done = True
                    finished += len(shard.manifests)
                    on_shard_done(shard, finished)
    return [manifest for shard in shards for manifest in shard.manifests]


def _give_up(client: Any, shards: list[Shard], deployment: str, watch: PoolWatch) -> None:
    """Cancel the shards not done (none may start after the parent has gone) and fail."""
    left = [s for s in shards if not s.done and s.flow_run_id is not None]
    for shard in left:
        client.set_flow_run_state(
            shard.flow_run_id, Cancelled(message="vidflow: no worker in the pool"), force=True
        )
    raise ConfigError(
        f"work pool '{watch.pool}' has had no online worker for {watch.grace_s:.0f} s "
        f"(VIDFLOW_FANOUT_WORKER_GRACE_S); {len(left)} shard(s) of {deployment} were "
        f"cancelled: start one worker per GPU (prefect worker start --pool {watch.pool}) or "
        "unset VIDFLOW_FANOUT_DEPLOYMENT to generate here"
    )


def _unfinished(job: Job, verdict: Verdict, store: Store, why: str) -> Manifest:
    """A job of a shard that never reported: finished if the ledger has it, else failed."""
    previous = store.lookup(job.content_hash)
    if previous is not None:
        return previous.model_copy(update={"job_id": job.id, "source": job.source})
    return Manifest(
        job_id=job.id,
        source=job.source,
        job_hash=job.content_hash,
        status="failed",
        job=job.model_dump(mode="json"),
        verdict=verdict.model_dump(mode="json"),
        error=why,
    )
