"""The batch child and the tiny model's load path, on the CPU."""

from __future__ import annotations

import json
import queue
from pathlib import Path

import numpy as np
import pytest
import torch

from generation import runner as runner_module
from generation.batch import _generate_group, run_batch
from generation.presets import get_preset, resolve_job
from vidflow.spec import Job, JobSpec


def tiny_job(i: int, **fields: object) -> Job:
    spec = JobSpec.model_validate(
        {"id": f"j{i}", "prompt": f"a boat {i}", "seed": i, "num_frames": 5, "steps": 1,
         "width": 64, "height": 64, **fields}
    )  # fmt: skip
    return resolve_job(spec, "j.yaml", "tiny")


def test_tiny_model_loads_through_from_pretrained(tiny_model_dir: Path) -> None:
    from diffusers import WanPipeline

    assert json.loads((tiny_model_dir / "model_index.json").read_text())["_class_name"] == (
        "WanPipeline"
    )
    pipe = WanPipeline.from_pretrained(tiny_model_dir)
    video = pipe("a boat", num_frames=5, height=64, width=64, num_inference_steps=1,
                 output_type="np").frames[0]  # fmt: skip
    assert video.shape == (5, 64, 64, 3)


def test_batch_streams_each_job_and_frames_are_deterministic(
    tmp_path: Path, session_cache: Path
) -> None:
    jobs = [tiny_job(1), tiny_job(2), tiny_job(1, id="again")]
    results = list(run_batch(jobs, tmp_path, cache_dir=session_cache, timeout_s=300))
    assert {r.job_hash for r in results} == {j.content_hash for j in jobs}
    assert all(r.error is None and r.frames_path for r in results)
    first = np.load(tmp_path / f"{jobs[0].content_hash}.npy")
    second = np.load(tmp_path / f"{jobs[1].content_hash}.npy")
    assert first.shape == (5, 64, 64, 3) and first.dtype == np.uint8
    assert not np.array_equal(first, second)
    assert results[0].timings["load_s"] > 0 and results[-1].timings["load_s"] == 0.0
    assert not list(tmp_path.glob(".*partial"))


def test_the_child_keeps_torch_to_the_cpu_budget(tmp_path: Path, session_cache: Path) -> None:
    # 3: not this machine's core count, so only the budget can have made it.
    (result,) = run_batch([tiny_job(1)], tmp_path, cache_dir=session_cache, timeout_s=300,
                          cpu_threads=3)  # fmt: skip
    assert result.error is None
    assert result.plan["cpu_threads"] == {"torch": 3, "torch_interop": 3}


def test_a_timeout_reports_every_unfinished_job(tmp_path: Path, session_cache: Path) -> None:
    jobs = [tiny_job(1), tiny_job(2)]
    results = list(run_batch(jobs, tmp_path, cache_dir=session_cache, timeout_s=0.5))
    assert len(results) == 2
    assert all(r.error == "generation timed out after 0 s" for r in results)


def test_a_broken_preset_fails_only_its_jobs(
    tmp_path: Path, session_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tiny_job(3, preset="wan2.1-t2v-1.3b")
    monkeypatch.setenv(get_preset("wan2.1-t2v-1.3b").env_var, str(tmp_path / "missing"))
    results = {
        r.job_hash: r
        for r in run_batch([broken, tiny_job(4)], tmp_path, cache_dir=session_cache,
                           timeout_s=300)
    }  # fmt: skip
    assert "has no model_index.json" in (results[broken.content_hash].error or "")
    assert results[tiny_job(4).content_hash].error is None


def test_an_oom_is_reported_per_job_when_no_frugal_plan_is_left(
    tmp_path: Path, session_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GPU OOM cannot happen on a CPU: inject one into the runner's generate call."""
    calls = []
    real_generate = runner_module.PipelineRunner.generate

    def generate_once_oom(self, job, on_step=None):  # type: ignore[no-untyped-def]
        calls.append(job.id)
        if job.id == "j5":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return real_generate(self, job, on_step)

    monkeypatch.setattr(runner_module.PipelineRunner, "generate", generate_once_oom)
    report: queue.Queue[str | tuple[str, str]] = queue.Queue()
    import os

    _generate_group([tiny_job(5), tiny_job(6)], tmp_path, session_cache, report, os.getppid())
    messages = [report.get_nowait() for _ in range(report.qsize())]
    results = [json.loads(m) for m in messages if isinstance(m, str)]
    assert len(results) == 2
    assert "OutOfMemoryError" in results[0]["error"] and results[1]["error"] is None
    assert calls == ["j5", "j6"]  # on the CPU there is no more frugal plan: no retry


def test_each_denoising_step_reaches_the_parent_and_the_manifest_fields_are_filled(
    tmp_path: Path, session_cache: Path
) -> None:
    jobs = [tiny_job(7, steps=3), tiny_job(8, steps=2, step_cache="first-block")]
    seen: list[tuple[str, int, int]] = []
    results = list(
        run_batch(
            jobs,
            tmp_path,
            cache_dir=session_cache,
            timeout_s=300,
            on_progress=lambda p: seen.append((p.job_id, p.step, p.steps)),
        )
    )
    assert seen == [("j7", 1, 3), ("j7", 2, 3), ("j7", 3, 3), ("j8", 1, 2), ("j8", 2, 2)]
    by_hash = {r.job_hash: r for r in results}
    first, second = by_hash[jobs[0].content_hash], by_hash[jobs[1].content_hash]
    assert first.plan["step_cache"] is None and first.plan["attention"] == "dense"
    assert second.plan["step_cache"]["method"] == "first-block"
    # No NVML on this machine: the record says so instead of holding made-up numbers.
    assert first.telemetry["available"] is False and "NVML" in first.telemetry["reason"]
