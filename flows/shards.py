"""How a batch is cut up so every GPU gets work: shards of one preset each.

Pure functions of the jobs and the number of GPUs, used both by the fan-out to a work pool
(one flow run per shard) and by local mode on a host with several GPUs (one generation
child per GPU).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeVar

from vidflow.spec import Job

T = TypeVar("T")


def _chunks(items: Sequence[T], count: int) -> list[list[T]]:
    """`count` near-equal slices, larger ones first, keeping the items' order."""
    size, extra = divmod(len(items), count)
    out: list[list[T]] = []
    start = 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        out.append(list(items[start:end]))
        start = end
    return [chunk for chunk in out if chunk]


def split_into_shards(jobs: Sequence[T], presets: Sequence[str], slots: int) -> list[list[T]]:
    """Shards of one preset each, at least `slots` of them when there are enough jobs.

    jobs and presets run in parallel (presets[i] is the preset of jobs[i]). Each preset
    gets a share of the slots in proportion to its jobs (at least one, at most one per
    job), so a model is loaded once per shard and no GPU waits while another has a queue.
    """
    if slots < 1:
        raise ValueError(f"shards need at least one GPU slot, not {slots}")
    by_preset: dict[str, list[T]] = {}
    for job, preset in zip(jobs, presets, strict=True):
        by_preset.setdefault(preset, []).append(job)
    total = len(jobs)
    shards: list[list[T]] = []
    for group in by_preset.values():
        share = max(1, min(len(group), round(slots * len(group) / total)))
        shards.extend(_chunks(group, share))
    # Rounding can leave a GPU idle: split the largest shard until every slot has one.
    while len(shards) < min(slots, total):
        largest = max(range(len(shards)), key=lambda i: len(shards[i]))
        shards[largest : largest + 1] = _chunks(shards[largest], 2)
    return shards


def split_jobs(jobs: Sequence[Job], slots: int) -> list[list[Job]]:
    return split_into_shards(jobs, [job.preset for job in jobs], slots)


def assign_to_gpus(shards: list[list[T]], gpus: int) -> list[list[T]]:
    """Pack shards onto `gpus` children, largest first onto the least loaded (LPT)."""
    loads: list[list[T]] = [[] for _ in range(gpus)]
    for shard in sorted(shards, key=len, reverse=True):
        min(loads, key=len).extend(shard)
    return [load for load in loads if load]


def visible_gpu_ids(configured: str | None) -> list[str]:
    """The GPUs local mode gives one child each: the setting, else every GPU seen here.

    Without a GPU the list is empty and the batch runs in one unpinned child, as before.
    """
    if configured is not None:
        return [gpu.strip() for gpu in configured.split(",") if gpu.strip()]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [gpu.strip() for gpu in visible.split(",") if gpu.strip() and gpu.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]
