"""The VRAM-adaptive planner: a pure function from (preset, job, probe) to a Plan.

It says before any GPU work whether a job fits, and how: the least frugal level whose
predicted peak fits the card wins, since each step down the ladder trades speed for memory.

    level 0  everything resident on the GPU
    level 1  the text encoder group-offloaded (leaf level, CUDA streams) with its embedding
             table left in host memory; the transformer (compiled) and the VAE resident:
             the encoder is most of the weights but runs once per job, so streaming it
             costs about half a second
    level 2  as level 1, and VAE tiling
    level 3  as level 2, and the transformer's GPU weights freed for the decode (a pinned
             host copy restores them for the next job): the denoising steps run at full
             speed and the decode does not share the card with them
    level 4  the transformer group-offloaded too; the tiled VAE stays resident

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

MAX_LEVEL = 4
# Allocator fragmentation, CUDA context and cuDNN workspaces: never plan to the last byte.
HEADROOM = 0.9
# What the caching allocator holds beyond the live peak; measured up to 3.5 GiB at level 0
# (docs/benchmarks.md), so with HEADROOM this keeps a plan's reserved memory in budget.
CONTEXT_GIB = 1.0
# A streamed text encoder's resident share: the leaf being run and the one prefetched (its
# 2 GiB embedding table stays in host memory); measured 0.58 GiB for UMT5-XXL.
TEXT_STREAM_GIB = 0.6
# Group offload keeps about this share of the transformer resident (one block group plus
# the prefetched next one).
GROUP_RESIDENT_SHARE = 0.1
# VAE tiles: neighbours overlap by this many pixels, blended; no tile side below MIN_TILE
# unless the frame itself is smaller (diffusers defaults to 256 with 64 overlap).
TILE_OVERLAP = 32
MIN_TILE = 192
MAX_TILES_PER_SIDE = 8

Offload = Literal["none", "text_encoder", "group"]
#                  level:  0       1               2               3               4
OFFLOAD: tuple[Offload, ...] = ("none", "text_encoder", "text_encoder", "text_encoder", "group")


class Plan(BaseModel):
    """How the hardware will make a job; written into the manifest."""

    device: Literal["cuda", "cpu"]
    dtype: Literal["bfloat16", "float16", "float32"]
    level: int = Field(ge=0, le=MAX_LEVEL, description="0 fastest ... 4 most frugal.")
    offload: Offload
    text_encoder_device: Literal["cuda", "cpu"]
    vae_tiling: bool
    vae_tile: dict[str, int] = Field(
        default_factory=dict,
        description="Arguments of the VAE's enable_tiling (tile and stride in pixels); "
        "empty for diffusers' defaults.",
    )
    park_transformer: bool = Field(
        False, description="Free the transformer's GPU weights during the VAE decode."
    )
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


def _tile_side(size: int, count: int) -> tuple[int, int]:
    """(tile, stride) in pixels for `count` tiles along a side of `size` pixels."""
    if count == 1:
        return size, size
    stride = -(-size // count // 16) * 16  # a multiple of 16: 8x VAE compression, 2x patches
    return stride + TILE_OVERLAP, stride


def tile_grids(job: Job) -> list[dict[str, int]]:
    """enable_tiling arguments for each allowed grid, fewest tiles (fastest) first."""
    grids = []
    for rows in range(1, MAX_TILES_PER_SIDE + 1):
        for cols in range(1, MAX_TILES_PER_SIDE + 1):
            if rows * cols == 1:
                continue
            tile_h, stride_h = _tile_side(job.height, rows)
            tile_w, stride_w = _tile_side(job.width, cols)
            if min(tile_h, tile_w) < min(MIN_TILE, job.height, job.width):
                continue
            grids.append((rows * cols, tile_h * tile_w, {
                "tile_sample_min_height": tile_h, "tile_sample_stride_height": stride_h,
                "tile_sample_min_width": tile_w, "tile_sample_stride_width": stride_w,
            }))  # fmt: skip
    return [grid for _, _, grid in sorted(grids, key=lambda g: (g[0], g[1]))]


def decode_gib(preset: Preset, job: Job, tile: dict[str, int] | None = None) -> float:
    """VAE weights, the float32 output video twice (the VAE's output and diffusers' [0, 1]
    copy of it exist together), and the working memory of one tile (or frame)."""
    m = preset.memory
    output = 2 * job.num_frames * job.height * job.width * 3 * 4 / 2**30
    height = tile["tile_sample_min_height"] if tile else job.height
    width = tile["tile_sample_min_width"] if tile else job.width
    return m.vae_gib + output + m.decode_gib_per_mpx * height * width / 1e6


def level_peak(
    preset: Preset, job: Job, level: int, budget: float | None = None
) -> tuple[float, dict[str, int] | None]:
    """Predicted peak GPU memory of a level (the largest of its encode, denoise and decode
    phases) and, from level 2 on, the VAE tiles: the largest that leave the peak within
    `budget` (the smallest allowed when there is no budget or none fits)."""
    m = preset.memory
    act = _activation_gib(preset, job)
    denoise = m.vae_gib + max(TEXT_STREAM_GIB, act)

    def peak_with(tile: dict[str, int] | None) -> float:
        decode = decode_gib(preset, job, tile)
        if level == 0:
            peak = m.text_encoder_gib + m.transformer_gib + max(m.vae_gib + act, decode)
        elif level in (1, 2):  # the VAE and transformer resident, the encoder streamed
            peak = m.transformer_gib + max(denoise, decode)
        elif level == 3:  # as 2, but the decode runs with the transformer's weights freed
            peak = max(m.transformer_gib + denoise, decode)
        else:  # the VAE resident, the encoder and transformer streamed
            streamed = m.transformer_gib * GROUP_RESIDENT_SHARE + act
            peak = max(m.vae_gib + max(TEXT_STREAM_GIB, streamed), decode)
        return round(peak + CONTEXT_GIB, 2)

    grids = tile_grids(job) if level >= 2 else []
    if not grids:  # untiled levels, or a frame too small to tile: decode it whole
        return peak_with(None), None
    if budget is not None:
        for tile in grids:
            if peak_with(tile) <= budget:
                return peak_with(tile), tile
    smallest = min(grids, key=_area)
    return peak_with(smallest), smallest


def _area(tile: dict[str, int] | None) -> int:
    return tile["tile_sample_min_height"] * tile["tile_sample_min_width"] if tile else 0


def predicted_peak_gib(preset: Preset, job: Job, level: int) -> float:
    """Peak GPU memory of a level with its smallest VAE tiles."""
    return level_peak(preset, job, level)[0]


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
        peak, tile = level_peak(preset, job, level, budget)
        if peak > budget:
            continue
        if level == 2 and tile:
            # Parking the transformer costs one weight copy per job (~0.1 s); the tiles it
            # frees room for can save seconds of decode, so take it when its tiles are larger.
            parked_peak, parked_tile = level_peak(preset, job, 3, budget)
            if parked_peak <= budget and _area(parked_tile) > _area(tile):
                return plan_for_level(
                    3, dtype, parked_peak, budget, fits=True, vae_tile=parked_tile
                )
        return plan_for_level(level, dtype, peak, budget, fits=True, vae_tile=tile)
    need = smallest_card_gib(preset, job)
    peak, tile = level_peak(preset, job, MAX_LEVEL)
    return plan_for_level(
        MAX_LEVEL,
        dtype,
        peak,
        budget,
        fits=False,
        vae_tile=tile,
        reason=f"predicted peak {peak} GiB even fully offloaded, over this card's budget of "
        f"{budget} GiB; smallest card that would fit: {need} GiB",
    )


def plan_for_level(
    level: int,
    dtype: str,
    peak: float,
    budget: float,
    *,
    fits: bool,
    vae_tile: dict[str, int] | None = None,
    reason: str = "",
) -> Plan:
    offload = OFFLOAD[level]
    return Plan.model_validate(
        {
            "device": "cuda",
            "dtype": dtype,
            "level": level,
            "offload": offload,
            "text_encoder_device": "cuda" if level == 0 else "cpu",
            "vae_tiling": level >= 2,
            "vae_tile": vae_tile or {},
            "park_transformer": level == 3,
            "attention_backend": "native",
            # Regional compile pays for itself only where the blocks stay resident.
            "compile": level <= 3,
            "predicted_peak_gib": peak,
            "budget_gib": budget,
            "fits": fits,
            "reason": reason or f"level {level} predicted {peak} GiB within {budget} GiB",
        }
    )
