"""What hardware a job will run on: the planner's only view of the machine."""

from __future__ import annotations

import os

from pydantic import BaseModel, Field

GIB = 1024**3


class Probe(BaseModel):
    """A snapshot of the GPU (if any) and host memory."""

    gpu_name: str | None = Field(None, description="None when no CUDA GPU is visible.")
    compute_capability: tuple[int, int] | None = None
    gpu_total_gib: float = 0.0
    gpu_free_gib: float = 0.0
    host_ram_gib: float = 0.0
    cpu_count: int = 1

    @property
    def has_gpu(self) -> bool:
        return self.gpu_name is not None

    @property
    def supports_bf16(self) -> bool:
        return self.compute_capability is not None and self.compute_capability >= (8, 0)


def _host_ram_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    except (ValueError, OSError):
        return 0.0


def probe_hardware(device_index: int = 0) -> Probe:
    """Read the first visible CUDA device (CUDA_VISIBLE_DEVICES picks it) and host RAM.

    `VIDFLOW_GPU_MEMORY_GIB` caps vidflow's share of a shared card: the cap is enforced with
    `torch.cuda.set_per_process_memory_fraction` and is what the planner sees as the card.
    """
    import torch

    probe = Probe(host_ram_gib=round(_host_ram_gib(), 1), cpu_count=os.cpu_count() or 1)
    if not torch.cuda.is_available():
        return probe
    props = torch.cuda.get_device_properties(device_index)
    free, total = torch.cuda.mem_get_info(device_index)
    total_gib = total / GIB
    cap = os.environ.get("VIDFLOW_GPU_MEMORY_GIB")
    if cap:
        total_gib = min(float(cap), total_gib)
        torch.cuda.set_per_process_memory_fraction(total_gib * GIB / total, device_index)
    return probe.model_copy(
        update={
            "gpu_name": props.name,
            "compute_capability": (props.major, props.minor),
            "gpu_total_gib": round(total_gib, 2),
            "gpu_free_gib": round(min(free / GIB, total_gib), 2),
        }
    )
