"""Load a preset's pipeline once, as a plan says, and generate jobs with it.

Reads like a diffusers pipeline: each step of `generate` is one call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from generation.planner import Plan
from generation.presets import Preset, locate_weights
from vidflow.spec import Job, StepCache

# Called after each denoising step with (step, steps), steps counted from 1.
StepCallback = Callable[[int, int], None]

logger = logging.getLogger(__name__)

# WanPipeline.__call__ encodes prompts to this length; encoding ahead must match it.
MAX_SEQUENCE_LENGTH = 512
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


class HostEmbedding(torch.nn.Module):
    """An embedding table that stays in host memory; only the looked-up rows go to the GPU.

    UMT5-XXL's table is 256,384 x 4096 (2 GiB in bf16). Streamed with the rest of the
    encoder it would be copied to the GPU whole for each prompt, to read 512 of its rows.
    The table is held as a plain attribute, not a parameter, so group offloading and
    `.to()` leave it where it is; the numbers are the same as the GPU lookup's.
    """

    def __init__(self, embedding: torch.nn.Embedding) -> None:
        super().__init__()
        self.table = embedding.weight.detach().to("cpu")
        self.embedding_dim = embedding.embedding_dim

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        rows = torch.nn.functional.embedding(input_ids.to(self.table.device), self.table)
        return rows.to(input_ids.device, non_blocking=True)


def keep_embeddings_on_host(text_encoder: Any) -> None:
    """Swap the encoder's input embedding for a `HostEmbedding` (one table, shared)."""
    host = HostEmbedding(text_encoder.get_input_embeddings())
    text_encoder.set_input_embeddings(host)
    encoder = getattr(text_encoder, "encoder", None)
    if encoder is not None and hasattr(encoder, "embed_tokens"):
        encoder.embed_tokens = host


class ParkedWeights:
    """Frees a module's GPU weights while another model needs the memory, and restores them.

    The weights never change during inference, so a pinned host copy made once is all that
    parking needs: parking drops the GPU storage (no copy), restoring is one host-to-device
    copy (about 0.1 s for the 1.3B transformer on an H100's PCIe). The parameter objects
    stay the same, so a compiled module keeps its compiled code.
    """

    def __init__(self, module: torch.nn.Module) -> None:
        self.params = list(module.parameters())
        self.device = self.params[0].device
        self.host = [p.detach().to("cpu", copy=True) for p in self.params]
        if torch.cuda.is_available():
            self.host = [h.pin_memory() for h in self.host]
        self.parked = False

    def park(self) -> None:
        if not self.parked:
            for param, host in zip(self.params, self.host, strict=True):
                param.data = host
            self.parked = True

    def restore(self) -> None:
        if self.parked:
            for param, host in zip(self.params, self.host, strict=True):
                param.data = host.to(self.device, non_blocking=True)
            self.parked = False


class PipelineRunner:
    """One loaded pipeline, kept resident for every job of its preset in a batch."""

    def __init__(self, preset: Preset, plan: Plan, pipe: Any, load_s: float = 0.0) -> None:
        from diffusers import FlowMatchEulerDiscreteScheduler

        self.preset = preset
        self.plan = plan
        started = time.perf_counter()
        pipe.scheduler = FlowMatchEulerDiscreteScheduler.from_config(
            pipe.scheduler.config, shift=preset.defaults.shift
        )
        pipe.set_progress_bar_config(disable=True)
        self.pipe = self._place(pipe, plan, preset)
        self.parking = ParkedWeights(self.pipe.transformer) if plan.park_transformer else None
        # Peak GPU memory of the last job's encode, denoise and decode, in GiB.
        self.last_peak_gib: dict[str, float] = {}
        self.load_s = load_s + time.perf_counter() - started

    @classmethod
    def load(cls, preset: Preset, plan: Plan, cache_dir: Path) -> PipelineRunner:
        """Load the preset's weights (never downloading) and place them as the plan says."""
        from diffusers import WanImageToVideoPipeline, WanPipeline

        started = time.perf_counter()
        weights = locate_weights(preset, cache_dir)
        # Wan's VAE is kept in float32, as diffusers' Wan examples load it: it is a small
        # share of the time and reduced precision there shows as artifacts.
        dtype = {"default": DTYPES[plan.dtype], "vae": torch.float32}
        if preset.kind == "ti2v":
            # Wan2.2 TI2V conditions on the image as the first latent frame, its timestep
            # zero there (`expand_timesteps`); WanPipeline would ignore the image.
            pipe = WanImageToVideoPipeline.from_pretrained(
                weights, dtype=dtype, expand_timesteps=True
            )
        else:
            pipe = WanPipeline.from_pretrained(weights, dtype=dtype)
        if preset.attention == "vsa":
            from generation.vsa import attach_gates, read_gate_weights

            folder = Path(weights) / "transformer"
            attach_gates(pipe.transformer, read_gate_weights(folder), str(folder))
        return cls(preset, plan, pipe, load_s=time.perf_counter() - started)

    @staticmethod
    def _place(pipe: Any, plan: Plan, preset: Preset) -> Any:
        """Put each component where the plan says, using diffusers' own mechanisms."""
        if preset.attention == "vsa":
            from generation.vsa import enable_vsa

            # Before compile, so the compiled blocks contain the sparse attention.
            enable_vsa(pipe.transformer, preset.vsa_sparsity)
        if plan.device == "cpu":
            return pipe
        if plan.offload == "none":
            pipe.to("cuda")
        else:
            from diffusers.hooks import apply_group_offloading

            cuda, cpu = torch.device("cuda"), torch.device("cpu")
            keep_embeddings_on_host(pipe.text_encoder)
            streamed = [pipe.text_encoder]
            if plan.offload == "group":
                streamed.append(pipe.transformer)
            else:
                pipe.transformer.to(cuda)
            for component in streamed:
                apply_group_offloading(
                    component, onload_device=cuda, offload_device=cpu,
                    offload_type="leaf_level", use_stream=True,
                )  # fmt: skip
            # The VAE stays resident: tiled decoding calls it once per tile and latent frame,
            # and streaming its weights in for each call made decode 3.8x slower on the H100
            # (docs/benchmarks.md), while it is a small share of the memory.
            pipe.vae.to(cuda)
        if plan.vae_tiling:
            pipe.vae.enable_tiling(**plan.vae_tile)
        if plan.attention_backend != "native":
            pipe.transformer.set_attention_backend(plan.attention_backend)
        if plan.compile:
            pipe.transformer.compile_repeated_blocks(fullgraph=True)
        return pipe

    def _record_peak(self, phase: str | None) -> None:
        """Record the peak memory since the last call under `phase` (None: start afresh)."""
        if self.plan.device != "cuda":
            return
        if phase is None:
            self.last_peak_gib = {}
        else:
            self.last_peak_gib[phase] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
        torch.cuda.reset_peak_memory_stats()

    def _sync(self) -> None:
        """Wait for the GPU, so a phase's time mark is when its work ended (once a phase)."""
        if self.plan.device == "cuda":
            torch.cuda.synchronize()

    def _execution_device(self) -> torch.device:
        return torch.device("cuda" if self.plan.device == "cuda" else "cpu")

    def job_settings(self, job: Job) -> dict[str, Any]:
        """What the manifest records about how this job was made beyond the plan."""
        return {
            "attention": self.preset.attention,
            "vsa_sparsity": self.preset.vsa_sparsity if self.preset.attention == "vsa" else None,
            "step_cache": job.step_cache.model_dump() if job.step_cache else None,
        }

    @torch.inference_mode()
    def generate(
        self, job: Job, on_step: StepCallback | None = None
    ) -> tuple[np.ndarray, dict[str, float]]:
        """Frames as uint8 RGB [T, H, W, 3], and seconds per step of the job."""
        pipe = self.pipe
        device = self._execution_device()
        guided = job.guidance_scale > 1.0
        self._record_peak(None)
        marks: dict[str, float] = {"start": time.perf_counter()}
        if self.parking is not None:
            self.parking.restore()

        # 1. Encode the prompt (and, for image-to-video, fit the image to the video's frame).
        embeds, negative = pipe.encode_prompt(
            prompt=job.prompt,
            negative_prompt=job.negative_prompt or None,
            do_classifier_free_guidance=guided,
            max_sequence_length=MAX_SEQUENCE_LENGTH,
            device=device,
        )
        dtype = pipe.transformer.dtype
        embeds = embeds.to(device, dtype)
        negative = negative.to(device, dtype) if negative is not None else None
        conditioning = {"image": fit_image(job.image, job.width, job.height)} if job.image else {}
        self._sync()
        marks["encoded"] = time.perf_counter()
        self._record_peak("encode")

        # 2. Denoise, then 3. decode; the step callback reports progress, marks where
        # denoising ends, and after the last step parks the transformer if the plan gives
        # its memory to the VAE.
        def on_step_end(_pipe: Any, step: int, _t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            last = step == job.steps - 1
            if last:
                self._sync()  # the GPU may run a step or more behind the Python loop
            marks["denoised"] = time.perf_counter()
            if on_step is not None:
                on_step(step + 1, job.steps)
            if last:
                self._record_peak("denoise")
                if self.parking is not None:
                    self.parking.park()
            return kwargs

        generator = torch.Generator(device="cpu").manual_seed(job.seed)
        with step_cache(pipe.transformer, job.step_cache):
            video = pipe(
                prompt_embeds=embeds,
                negative_prompt_embeds=negative,
                height=job.height,
                width=job.width,
                num_frames=job.num_frames,
                num_inference_steps=job.steps,
                guidance_scale=job.guidance_scale,
                generator=generator,
                output_type="pt",
                callback_on_step_end=on_step_end,
                **conditioning,
            ).frames[0]

        # 4. Convert to 8-bit frames where they were decoded, then copy a quarter of the
        # bytes to the host (the float32 video of 480x832x81 is 390 MB, its uint8 97 MB).
        frames = to_uint8_frames(video)
        marks["decoded"] = time.perf_counter()
        self._record_peak("decode")
        timings = {
            "encode_s": marks["encoded"] - marks["start"],
            "denoise_s": marks["denoised"] - marks["encoded"],
            "decode_s": marks["decoded"] - marks["denoised"],
        }
        timings["total_s"] = marks["decoded"] - marks["start"]
        return frames, timings

    def close(self) -> None:
        del self.pipe
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def to_uint8_frames(video: torch.Tensor) -> np.ndarray:
    """[T, C, H, W] floats in [0, 1] (diffusers' "pt" output) -> uint8 [T, H, W, C] on the host.

    Rounded half to even, as numpy's rint: the same bytes as converting on the host.
    """
    # In place: the pipeline's output is ours, and a second float copy of a 480x832x81
    # video would be another 390 MB at the decode's peak.
    frames = video.mul_(255.0).round_().clamp_(0, 255).to(torch.uint8)
    return frames.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def fit_image(path: str, width: int, height: int) -> Any:
    """The job's image cropped to the video's aspect ratio (centred) and resized to its
    frame: Wan2.2 TI2V takes the image as the first frame at the video's own size."""
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        rgb = image.convert("RGB")
    return ImageOps.fit(rgb, (width, height), method=Image.Resampling.LANCZOS)


def step_cache_config(cache: StepCache) -> Any:
    """diffusers' hook configuration for a job's step cache."""
    from diffusers.hooks import FirstBlockCacheConfig, TaylorSeerCacheConfig

    if cache.method == "first-block":
        return FirstBlockCacheConfig(threshold=cache.threshold or 0.05)
    # diffusers' default of 3 warm-up calls: the series needs two computed steps before
    # its first forecast, and a job of fewer steps is then computed in full.
    return TaylorSeerCacheConfig(
        cache_interval=cache.interval or 5,
        # diffusers' default patterns ("^blocks.*attn", matched whole) miss Wan's "attn1"
        # and "attn2", so nothing would be forecast: name each block's three sublayers, as
        # TaylorSeer forecasts attention and feed-forward outputs.
        cache_identifiers=[r"blocks\.\d+\.(attn1|attn2|ffn)"],
    )


class step_cache:
    """Enable a job's step cache on the transformer for one pipeline call, then remove it,
    so the next job of the batch runs as its own spec says."""

    def __init__(self, transformer: Any, cache: StepCache | None) -> None:
        self.transformer = transformer
        self.config = step_cache_config(cache) if cache else None

    def __enter__(self) -> None:
        if self.config is not None:
            self.transformer.enable_cache(self.config)

    def __exit__(self, *exc: object) -> None:
        if self.config is not None:
            self.transformer.disable_cache()
