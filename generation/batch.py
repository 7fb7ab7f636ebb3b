"""Generation of a batch in one child process: a real timeout, and all GPU memory freed.

The child loads each preset's model once and streams every finished job back at once, so
the parent runs the CPU stages of one job while the child generates the next. Frames travel
through `.npy` files written atomically; results through a queue as JSON, and between them
the progress of each denoising step as ("progress", JSON) pairs.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import queue as queue_module
import signal
import time
import traceback
from collections.abc import Callable, Generator
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from vidflow.settings import affinity_cores
from vidflow.spec import Job

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class GenerationResult(BaseModel):
    """One job's outcome, as the child reports it."""

    job_hash: str
    frames_path: str | None = Field(None, description="uint8 RGB [T, H, W, 3] .npy file.")
    plan: dict[str, Any] = Field(default_factory=dict, description="The Plan it ran with.")
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per step.")
    device: str = ""
    error: str | None = None
    telemetry: dict[str, Any] = Field(
        default_factory=dict,
        description="GPU utilisation, memory and clock samples over the job (NVML), or why "
        "there are none.",
    )


class StepProgress(BaseModel):
    """One denoising step finished, as the child reports it."""

    job_hash: str
    job_id: str
    step: int = Field(description="Steps finished, from 1.")
    steps: int = Field(description="Steps of the job.")
    elapsed_s: float = Field(description="Seconds since the job started.")


def _save_frames(frames: np.ndarray, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    with tmp.open("wb") as handle:
        np.save(handle, frames)
    os.replace(tmp, path)


def _generate_group(
    jobs: list[Job], work_dir: Path, cache_dir: Path, report: Any, parent: int
) -> None:
    """Every job of one preset, with its model loaded once (and once more after an OOM)."""
    from generation.planner import make_plan, replan_after_oom
    from generation.presets import get_preset
    from generation.probe import probe_hardware
    from generation.runner import PipelineRunner, is_oom
    from generation.telemetry import GpuSampler

    preset = get_preset(jobs[0].preset)
    probe = probe_hardware()
    device = probe.gpu_name or "cpu"
    # Plan for the largest job of the group, so one loaded model serves them all.
    largest = max(jobs, key=lambda j: j.width * j.height * j.num_frames)
    plan = make_plan(preset, largest, probe)
    runner: PipelineRunner | None = None
    load_s = 0.0
    for job in jobs:
        if os.getppid() != parent:  # the flow died: stop, finished frames are on disk
            return
        result = GenerationResult(job_hash=job.content_hash, device=device)
        started = time.perf_counter()

        def on_step(step: int, steps: int, job: Job = job, started: float = started) -> None:
            progress = StepProgress(
                job_hash=job.content_hash,
                job_id=job.id,
                step=step,
                steps=steps,
                elapsed_s=round(time.perf_counter() - started, 3),
            )
            report.put(("progress", progress.model_dump_json()))

        sampler = GpuSampler().start()
        for attempt in range(2):
            try:
                if not plan.fits:
                    raise MemoryError(plan.reason)
                if runner is None:
                    runner = PipelineRunner.load(preset, plan, cache_dir)
                    load_s = runner.load_s
                frames, timings = runner.generate(job, on_step)
                path = work_dir / f"{job.content_hash}.npy"
                _save_frames(frames, path)
                timings["load_s"] = load_s
                load_s = 0.0  # the model load is charged to the first job that needed it
                result = result.model_copy(
                    update={"frames_path": str(path), "timings": timings, "error": None}
                )
                break
            except Exception as exc:  # noqa: BLE001 - reported per job; the batch goes on
                oom = is_oom(exc)
                result = result.model_copy(update={"error": f"{type(exc).__name__}: {exc}"})
                logger.debug("job %s failed:\n%s", job.id, traceback.format_exc())
                if runner is not None:
                    runner.close()
                    runner = None
                # An OOM the plan did not predict: one level more frugal, once.
                frugal = replan_after_oom(preset, largest, probe, plan) if oom else None
                if frugal is None or attempt > 0:
                    break
                plan = frugal
        # The plan as predicted, and the job's peaks as measured, side by side in the manifest,
        # with the attention and step cache the job ran with.
        measured = runner.last_peak_gib if runner is not None and result.error is None else {}
        planned = plan.model_dump() | ({"measured_peak_gib": measured} if measured else {})
        # Which GPU of the host made it: the worker's or the local child's pinning.
        planned["cuda_visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES")
        planned["cpu_threads"] = cpu_threads_in_use()
        if runner is not None:
            planned |= runner.job_settings(job)
        update = {"plan": planned, "telemetry": sampler.stop()}
        report.put(result.model_copy(update=update).model_dump_json())
    if runner is not None:
        runner.close()


def limit_cpu_threads(threads: int) -> None:
    """Keep torch (and the OpenMP and MKL pools under it) to the worker's CPU budget.

    Called before torch is loaded: OpenMP reads its variables once, at start-up, and
    torch's inter-op pool can be sized only before its first use.
    """
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)


def cpu_threads_in_use() -> dict[str, int]:
    """torch's thread pools as they are in this process, for the manifest's plan."""
    import torch

    return {"torch": torch.get_num_threads(), "torch_interop": torch.get_num_interop_threads()}


def _die_with_parent(parent: int) -> None:
    """Linux: have the kernel kill this child the moment the flow process dies, even by
    SIGKILL, instead of generating on, unseen, until the next job boundary."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


def _child_main(  # type: ignore[no-untyped-def]
    jobs_json: list[str],
    work_dir: str,
    cache_dir: str,
    report: Any,
    parent: int,
    env: dict[str, str],
    cpu_threads: int,
):
    _die_with_parent(parent)
    # Before anything touches CUDA: CUDA_VISIBLE_DEVICES pins this child to its GPU.
    os.environ.update(env)
    limit_cpu_threads(cpu_threads)
    jobs = [Job.model_validate_json(j) for j in jobs_json]
    ordered = sorted(jobs, key=lambda j: j.preset)
    for _, group in groupby(ordered, key=lambda j: j.preset):
        group_jobs = list(group)
        try:
            _generate_group(group_jobs, Path(work_dir), Path(cache_dir), report, parent)
        except Exception as exc:  # noqa: BLE001 - a broken preset fails its jobs, not others
            for job in group_jobs:
                failed = GenerationResult(job_hash=job.content_hash, error=f"{exc}")
                report.put(failed.model_dump_json())


def run_batch(
    jobs: list[Job],
    work_dir: Path,
    *,
    cache_dir: Path,
    timeout_s: float,
    on_progress: Callable[[StepProgress], None] | None = None,
    env: dict[str, str] | None = None,
    cpu_threads: int | None = None,
) -> Generator[GenerationResult, None, None]:
    """Yield one result per job, in the order they finish; never hang, never drop a job.

    on_progress: called in this process for each denoising step the child finishes.
    env: variables set in the child before it loads anything (CUDA_VISIBLE_DEVICES).
    cpu_threads: the child's torch threads (default: the cores this process may run on).
    """
    context = mp.get_context("spawn")
    report = context.Queue()
    child = context.Process(
        target=_child_main,
        args=(
            [j.model_dump_json() for j in jobs],
            str(work_dir),
            str(cache_dir),
            report,
            os.getpid(),
            env or {},
            cpu_threads or affinity_cores(),
        ),
        name="vidflow-generation",
        daemon=True,
    )
    child.start()
    pending = {job.content_hash: job for job in jobs}
    deadline = time.monotonic() + timeout_s
    reason = ""
    try:
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                reason = f"generation timed out after {timeout_s:.0f} s"
                break
            try:
                message = report.get(timeout=min(1.0, remaining))
            except queue_module.Empty:
                if not child.is_alive():
                    reason = f"generation process died (exit code {child.exitcode})"
                    break
                continue
            if isinstance(message, tuple):  # ("progress", json)
                if on_progress is not None:
                    on_progress(StepProgress.model_validate_json(message[1]))
                continue
            result = GenerationResult.model_validate_json(message)
            if pending.pop(result.job_hash, None) is not None:
                yield result
        for job_hash in list(pending):
            pending.pop(job_hash)
            yield GenerationResult(job_hash=job_hash, error=reason)
    finally:
        if child.is_alive():
            child.terminate()
            child.join(10)
            if child.is_alive():
                child.kill()
        child.join()
        report.close()
