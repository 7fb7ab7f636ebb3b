"""The GPU slot every generation batch holds: a Prefect global concurrency limit.

Workers with `--limit 1` keep one run per GPU among Prefect's own runs, but a GitHub
runner calling `vidflow run` on the same host is not a Prefect worker. Both talk to the
same Prefect server, so a global concurrency limit named `GPU_LIMIT`, created once with as
many slots as the host has GPUs, makes them queue for the same GPUs:

    prefect gcl create vidflow-gpu --limit <number of GPUs>

Without that limit (a laptop, Prefect's local mode) the slot is granted at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.concurrency.sync import concurrency

GPU_LIMIT = "vidflow-gpu"


@contextmanager
def gpu_slot(timeout_s: float | None = None, gpus: int = 1) -> Iterator[None]:
    """Hold `gpus` GPU slots (one per generation child) for the duration of a batch.

    Waits (forever by default: a queued push should wait, not fail) until a slot is free.
    The slot's lease is renewed while the batch runs, and released when it ends or crashes.
    """
    with concurrency(GPU_LIMIT, occupy=gpus, timeout_seconds=timeout_s, strict=False):
        yield
