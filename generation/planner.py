"""The VRAM-adaptive planner: a pure function from (preset, job, probe) to a Plan.

It says before any GPU work whether a job fits, and how: the least frugal level whose
predicted peak fits the card wins, since each step down the ladder trades speed for memory.

    level 0  everything resident on the GPU
    level 1  the text encoder group-offloaded (leaf level, CUDA streams); the transformer
             (compiled) and the VAE resident: the encoder is most of the weights but runs
             once per job, so streaming it costs about half a second
    level 2  as level 1, and VAE tiling
    level 3  the transformer group-offloaded too; the tiled VAE stays resident

diffusers' model offload (whole components moved in turn) is not on the ladder: it needs
the whole text encoder on the GPU, so it peaks higher than level 1, and on the H100 it ran
slower than level 2 (docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from generation.presets import Preset
from generation.probe import Probe
from vidflow.spec import Job

MAX_LEVEL = 3
# Allocator fragmentation, CUDA context and cuDNN workspaces: never plan to the last byte.
HEADROOM = 0.9
# What the caching allocator holds beyond the live peak; measured up to 3.5 GiB at level 0
# (docs/benchmarks.md), so with HEADROOM this keeps a plan's reserved memory in budget.
CONTEXT_GIB = 1.0
TILED_VAE_GIB = 0.6
# Group offload keeps about this share of the transformer resident (one block group plus
# the prefetched next one).
GROUP_RESIDENT_SHARE = 0.1

Offload = Literal["none", "text_encoder", "group"]


class Plan(BaseModel):
    """How the hardware will make a job; written into the manifest."""

    device: Literal["cuda", "cpu"]
    dtype: Literal["bfloat16", "float16", "float32"]
    level: int = Field(ge=0, le=MAX_LEVEL, description="0 fastest ... 3 most frugal.")
    offload: Offload
    text_encoder_device: Literal["cuda", "cpu"]
    vae_tiling: bool
    attention_backend: str = Field(description="diffusers attention backend name.")
    compile: bool = Field(description="Regional torch.compile of the repeated blocks.")
    predicted_peak_gib: float = Field(description="Predicted peak GPU memory (0 on CPU).")
    budget_gib: float = Field(description="GPU memory the plan may use.")
    fits: bool
    reason: str = Field(description="Why this plan, or why nothing fits.")


def _activation_gib(preset: Preset, job: Job) -> float:
    megapixel_frames = job.width * job.height * job.num_frames / 1e6
    # WanPipeline runs the guided and unguided passes one after the other, not as a batch
    # of two, so guidance does not raise the activation peak.
    return preset.memory.activation_gib_per_mpx_frame * megapixel_frames


def predicted_peak_gib(preset: Preset, job: Job, level: int) -> float:
    """Peak GPU memory of a level; each term comes from the preset's memory figures."""
    m = preset.memory
    act = _activation_gib(preset, job)
    megapixel_frames = job.width * job.height * job.num_frames / 1e6
    untiled = m.decode_gib_per_mpx_frame * megapixel_frames
    decode = m.vae_gib + (TILED_VAE_GIB if level >= 2 else untiled)
    share = GROUP_RESIDENT_SHARE
    if level == 0:
        peak = m.text_encoder_gib + m.transformer_gib + max(m.vae_gib + act, decode)
    elif level in (1, 2):  # the VAE and transformer resident, the encoder streamed
        peak = m.transformer_gib + max(m.vae_gib + m.text_encoder_gib * share + act, decode)
    else:  # the VAE resident, the encoder and transformer streamed
        peak = m.vae_gib + max(m.text_encoder_gib * share, m.transformer_gib * share + act)
        peak = max(peak, decode)
    return round(peak + CONTEXT_GIB, 2)


def replan_after_oom(preset: Preset, job: Job, probe: Probe, plan: Plan) -> Plan | None:
    """The next more frugal plan after an out-of-memory error, or None if there is none."""
    if plan.device != "cuda" or plan.level >= MAX_LEVEL:
        return None
    return make_plan(preset, job, probe, min_level=plan.level + 1)


def smallest_card_gib(preset: Preset, job: Job) -> float:
    return round(predicted_peak_gib(preset, job, MAX_LEVEL) / HEADROOM, 1)


def make_plan(preset: Preset, job: Job, probe: Probe, *, min_level: int = 0) -> Plan:
    """Pick the fastest level that fits; `min_level` forces a more frugal one (after an OOM)."""
    if not probe.has_gpu:
        return Plan(
            device="cpu",
            dtype="float32",
            level=0,
            offload="none",
            text_encoder_device="cpu",
            vae_tiling=False,
            attention_backend="native",
            compile=False,
            predicted_peak_gib=0.0,
            budget_gib=0.0,
            fits=True,
            reason="no CUDA GPU: float32 on the CPU",
        )
    budget = round(
        min(probe.gpu_total_gib, probe.gpu_free_gib or probe.gpu_total_gib) * HEADROOM, 2
    )
    dtype = "bfloat16" if probe.supports_bf16 else "float16"
    for level in range(min_level, MAX_LEVEL + 1):
        peak = predicted_peak_gib(preset, job, level)
        if peak <= budget:
            return plan_for_level(level, dtype, peak, budget, fits=True)
    need = smallest_card_gib(preset, job)
    peak = predicted_peak_gib(preset, job, MAX_LEVEL)
    return plan_for_level(
        MAX_LEVEL,
        dtype,
        peak,
        budget,
        fits=False,
        reason=f"predicted peak {peak} GiB even fully offloaded, over this card's budget of "
        f"{budget} GiB; smallest card that would fit: {need} GiB",
    )


def plan_for_level(
    level: int, dtype: str, peak: float, budget: float, *, fits: bool, reason: str = ""
) -> Plan:
    offload: Offload = ("none", "text_encoder", "text_encoder", "group")[level]  # type: ignore[assignment]
    return Plan.model_validate(
        {
            "device": "cuda",
            "dtype": dtype,
            "level": level,
            "offload": offload,
            "text_encoder_device": "cuda" if level == 0 else "cpu",
            "vae_tiling": level >= 2,
            "attention_backend": "native",
            # Regional compile pays for itself only where the blocks stay resident.
            "compile": level <= 2,
            "predicted_peak_gib": peak,
            "budget_gib": budget,
            "fits": fits,
            "reason": reason or f"level {level} predicted {peak} GiB within {budget} GiB",
        }
    )
