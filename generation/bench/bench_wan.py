"""GPU benchmark of generation in the Wan2.1-1.3B shapes (480x832, 81 frames), random weights.

Random weights give real timings (the arithmetic does not depend on the values) and noise
pixels. Two parts, each meant for one call on the GPU machine:

  steps: seconds per guided denoising step for diffusers' default WanPipeline settings and
         for vidflow's choices, side by side in one process; MFU against a matmul ceiling
         measured in the same run; whole videos for the default and for the fast mode.
  caps:  a whole job through vidflow's planner and runner under per-process memory caps,
         one fresh process per cap: plan chosen, peak memory, wall time (after an untimed
         one-step warm-up, as a batch's first job pays for compilation).

    python -m generation.bench.bench_wan steps --out bench-steps.json
    python -m generation.bench.bench_wan caps --out bench-caps.json

Each prints a table last and writes its numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HEIGHT, WIDTH, FRAMES = 480, 832, 81
TEXT_LEN = 512
WAN_1_3B: dict[str, Any] = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 12,
    "attention_head_dim": 128,
    "in_channels": 16,
    "out_channels": 16,
    "text_dim": 4096,
    "freq_dim": 256,
    "ffn_dim": 8960,
    "num_layers": 30,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "rope_max_seq_len": 1024,
}
# google/umt5-xxl encoder, as Wan2.1 ships it.
UMT5_XXL: dict[str, Any] = {
    "vocab_size": 256384,
    "d_model": 4096,
    "d_kv": 64,
    "d_ff": 10240,
    "num_layers": 24,
    "num_heads": 64,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "feed_forward_proj": "gated-gelu",
    "dense_act_fn": "gelu_new",
    "is_gated_act": True,
    "tie_word_embeddings": False,
}
# Memory caps in GiB ("none": uncapped); "CAP@LEVEL" forces a plan level under that cap, to
# see whether a level the planner does not pick there (level 2 under 6 GiB) would fit.
CAPS = "none,4,6,6@2,8,12,16,24"


def transformer_flops(tokens: int, text_len: int = TEXT_LEN) -> float:
    """Multiply-adds x2 of one forward pass of the 1.3B transformer (matmuls only)."""
    d = WAN_1_3B["num_attention_heads"] * WAN_1_3B["attention_head_dim"]  # type: ignore[operator]
    ffn = WAN_1_3B["ffn_dim"]
    per_layer = (
        4 * 2 * tokens * d * d  # self-attention q, k, v, o
        + 2 * 2 * tokens * tokens * d  # QK^T and AV
        + 2 * 2 * tokens * d * d  # cross-attention q, o
        + 2 * 2 * text_len * d * d  # cross-attention k, v
        + 2 * 2 * tokens * text_len * d  # cross-attention scores and values
        + 2 * 2 * tokens * d * ffn  # feed-forward
    )
    return float(per_layer * WAN_1_3B["num_layers"])  # type: ignore[operator]


def latent_tokens() -> int:
    t = (FRAMES - 1) // 4 + 1
    return t * (HEIGHT // 16) * (WIDTH // 16)


def cuda_time(fn: Any, repeat: int, warmup: int = 1) -> list[float]:
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    return times


def matmul_ceiling() -> float:
    """bf16 TFLOP/s of an 8192^3 matrix product on random data."""
    import torch

    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    times = cuda_time(lambda: a @ b, repeat=20, warmup=5)
    return 2 * 8192**3 / sorted(times)[len(times) // 2] / 1e12


def _randomize(module: Any) -> Any:
    """Fill weights quickly with small random values (init code is slow at this size)."""
    import torch

    with torch.no_grad():
        for param in module.parameters():
            param.normal_(0.0, 0.02)
    return module


def build_pipeline(device: str, materialize: str = "cuda") -> Any:
    """A WanPipeline in the Wan2.1-1.3B shapes with random weights, in bf16, on `device`.

    Modules are built on the meta device, given their dtype there, materialised and filled
    with random values on `materialize` (fast on a GPU), then moved to `device`.
    """
    import torch
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        WanPipeline,
        WanTransformer3DModel,
    )
    from transformers import UMT5Config, UMT5EncoderModel

    from generation.tiny import _build_tokenizer

    with torch.device("meta"):
        transformer: Any = WanTransformer3DModel(**WAN_1_3B)
        transformer = transformer.to(torch.bfloat16)
        text_encoder: Any = UMT5EncoderModel(UMT5Config(**UMT5_XXL))
        text_encoder = text_encoder.to(torch.bfloat16)
        vae: Any = AutoencoderKLWan()
        vae = vae.to(torch.float32)
    modules = []
    for module in (transformer, text_encoder, vae):
        module = _randomize(module.to_empty(device=materialize)).eval()
        modules.append(module.to(device))
    transformer, text_encoder, vae = modules
    # The rotary tables are buffers computed at init, lost on the meta device: rebuild them.
    rope = type(transformer.rope)(
        WAN_1_3B["attention_head_dim"], WAN_1_3B["patch_size"], WAN_1_3B["rope_max_seq_len"]
    )
    transformer.rope = rope.to(device)
    # As from_pretrained does: modules diffusers marks as precision-sensitive stay float32.
    keep = transformer._keep_in_fp32_modules or []
    for name, module in transformer.named_modules():
        if any(part in keep for part in name.split(".")):
            module.float()
    if materialize == "cuda":
        torch.cuda.empty_cache()
    return WanPipeline(
        tokenizer=_build_tokenizer(),
        text_encoder=text_encoder,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        transformer=transformer,
    )


def step_inputs() -> tuple[Any, Any, Any, Any]:
    """One step's transformer inputs at the benchmark shape: latents, text, no text, time."""
    import torch

    latents = torch.randn(1, 16, (FRAMES - 1) // 4 + 1, HEIGHT // 8, WIDTH // 8, device="cuda",
                          dtype=torch.bfloat16)  # fmt: skip
    cond = torch.randn(1, TEXT_LEN, 4096, device="cuda", dtype=torch.bfloat16)
    return latents, cond, torch.randn_like(cond), torch.tensor([500.0], device="cuda")


def step_variants(pipe: Any) -> list[dict[str, Any]]:
    """Seconds per guided step (two transformer passes, as WanPipeline runs CFG)."""
    import torch

    transformer = pipe.transformer
    latents, cond, uncond, timestep = step_inputs()

    @torch.inference_mode()
    def guided_step() -> None:
        transformer(latents, timestep, cond, return_dict=False)
        transformer(latents, timestep, uncond, return_dict=False)

    flops = 2 * transformer_flops(latent_tokens())
    rows: list[dict[str, Any]] = []
    for name, backend, compiled in [
        ("diffusers default (native SDPA)", "native", False),
        ("cuDNN attention", "_native_cudnn", False),
        ("flash attention (SDPA)", "_native_flash", False),
        ("native SDPA + regional compile", "native", True),
        ("cuDNN attention + regional compile", "_native_cudnn", True),
    ]:
        try:
            transformer.set_attention_backend(backend)
            if compiled and not getattr(transformer, "_vidflow_compiled", False):
                started = time.perf_counter()
                transformer.compile_repeated_blocks(fullgraph=True)
                transformer._vidflow_compiled = True
                guided_step()
                torch.cuda.synchronize()
                print(f"compile took {time.perf_counter() - started:.1f} s", flush=True)
            times = cuda_time(guided_step, repeat=5, warmup=2)
        except Exception as exc:  # noqa: BLE001 - a variant that fails is reported, not fatal
            rows.append({"variant": name, "error": f"{type(exc).__name__}: {exc}"[:300]})
            print(json.dumps(rows[-1]), flush=True)
            continue
        median = sorted(times)[len(times) // 2]
        rows.append({"variant": name, "backend": backend, "compile": compiled,
                     "s_per_step": median, "all_s": times, "tflops": flops / median / 1e12})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    return rows


def whole_video(pipe: Any, steps: int, guidance: float, shift: float) -> dict[str, float]:
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler

    pipe.scheduler = FlowMatchEulerDiscreteScheduler(shift=shift)
    pipe.set_progress_bar_config(disable=True)
    torch.cuda.synchronize()
    started = time.perf_counter()
    pipe("a boat on a lake", negative_prompt="blurry", height=HEIGHT, width=WIDTH,
         num_frames=FRAMES, num_inference_steps=steps, guidance_scale=guidance,
         output_type="np", generator=torch.Generator().manual_seed(0))  # fmt: skip
    torch.cuda.synchronize()
    return {"steps": steps, "guidance": guidance, "wall_s": time.perf_counter() - started}


def run_steps(out: Path) -> None:
    import torch

    ceiling = matmul_ceiling()
    print(f"matmul ceiling {ceiling:.0f} TFLOP/s", flush=True)
    pipe = build_pipeline("cuda")
    rows = step_variants(pipe)
    timed = [r for r in rows if "s_per_step" in r]
    for row in timed:
        row["mfu"] = row["tflops"] / ceiling
    default, best = timed[0], min(timed, key=lambda r: r["s_per_step"])
    # Whole videos: the best variant is still active on the transformer (compiled).
    pipe.transformer.set_attention_backend(best["backend"])
    fast = whole_video(pipe, steps=3, guidance=1.0, shift=8.0)  # FastWan2.1 defaults
    pipe.transformer.set_attention_backend("native")
    default_video = whole_video(pipe, steps=50, guidance=5.0, shift=3.0)
    result = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "shape": [HEIGHT, WIDTH, FRAMES],
        "floor_s_per_step": 2 * transformer_flops(latent_tokens()) / (ceiling * 1e12),
        "matmul_tflops": ceiling,
        "steps": rows,
        "speedup_per_step": default["s_per_step"] / best["s_per_step"],
        "video_default": default_video,
        "video_fast": fast,
        "speedup_per_video": default_video["wall_s"] / fast["wall_s"],
        "date": time.strftime("%Y-%m-%d"),
    }
    out.write_text(json.dumps(result, indent=2))
    print(f"\n{result['device']}, torch {result['torch']}, matmul ceiling {ceiling:.0f} TFLOP/s, "
          f"floor {result['floor_s_per_step']:.3f} s/step")  # fmt: skip
    print(f"{'variant':40} {'s/step':>8} {'TFLOP/s':>8} {'MFU':>6}")
    for row in rows:
        print(
            f"{row['variant']:40} {row['s_per_step']:8.3f} {row['tflops']:8.0f} {row['mfu']:6.1%}"
        )
    print(f"per-step speedup, best vs default: {result['speedup_per_step']:.2f}x")
    print(f"video default (50 steps, CFG, native): {default_video['wall_s']:.1f} s")
    print(f"video fast (3 steps, no CFG, {best['variant']}): {fast['wall_s']:.1f} s "
          f"-> {result['speedup_per_video']:.1f}x")  # fmt: skip


def attention_kernels() -> list[dict[str, Any]]:
    """TFLOP/s of one self-attention call at the step's shape, per SDPA backend."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    tokens, heads, dim = (
        latent_tokens(),
        WAN_1_3B["num_attention_heads"],
        WAN_1_3B["attention_head_dim"],
    )
    rows: list[dict[str, Any]] = []
    for batch in (1, 2):
        # diffusers passes [B, S, H, D] and SDPA reads it transposed, as here.
        q, k, v = (torch.randn(batch, tokens, heads, dim, device="cuda", dtype=torch.bfloat16)
                   .transpose(1, 2) for _ in range(3))  # fmt: skip
        flops = 4 * batch * heads * tokens * tokens * dim
        for name, backend in [("default", None), ("flash", SDPBackend.FLASH_ATTENTION),
                              ("cudnn", SDPBackend.CUDNN_ATTENTION),
                              ("efficient", SDPBackend.EFFICIENT_ATTENTION)]:  # fmt: skip

            def call(backend: Any = backend, q: Any = q, k: Any = k, v: Any = v) -> None:
                if backend is None:
                    torch.nn.functional.scaled_dot_product_attention(q, k, v)
                else:
                    with sdpa_kernel(backend):
                        torch.nn.functional.scaled_dot_product_attention(q, k, v)

            try:
                times = cuda_time(call, repeat=5, warmup=2)
            except Exception as exc:  # noqa: BLE001 - a backend that cannot run is reported
                rows.append({"batch": batch, "backend": name, "error": str(exc)[:200]})
                continue
            median = sorted(times)[len(times) // 2]
            rows.append({"batch": batch, "backend": name, "ms": median * 1000,
                         "tflops": flops / median / 1e12})  # fmt: skip
        print(json.dumps(rows[-4:]), flush=True)
    return rows


def kernel_profile(step: Any) -> dict[str, Any]:
    """Where one step's GPU time goes: kernels grouped as attention, matmul and the rest."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        step()
        torch.cuda.synchronize()
    kernels = [(e.key, e.device_time_total / 1e6) for e in prof.key_averages()
               if e.device_time_total > 0]  # fmt: skip
    groups: dict[str, float] = {"attention": 0.0, "matmul": 0.0, "other": 0.0}
    for name, seconds in kernels:
        low = name.lower()
        if any(t in low for t in ("flash", "fmha", "attention", "sdpa", "cudnn")):
            groups["attention"] += seconds
        elif any(t in low for t in ("gemm", "nvjet", "xmma", "cutlass", "matmul", "sm90")):
            groups["matmul"] += seconds
        else:
            groups["other"] += seconds
    top = sorted(kernels, key=lambda k: -k[1])[:15]
    return {"groups_s": groups, "top": [{"kernel": n[:120], "s": t} for n, t in top]}


def vae_tiles() -> list[dict[str, Any]]:
    """Decode time and peak memory of one 480x832x81 latent per VAE tiling."""
    import torch
    from diffusers import AutoencoderKLWan

    with torch.device("meta"):
        vae: Any = AutoencoderKLWan()
    vae = _randomize(vae.to_empty(device="cuda").float()).eval()
    latents = torch.randn(1, 16, (FRAMES - 1) // 4 + 1, HEIGHT // 8, WIDTH // 8, device="cuda")
    rows = []
    for name, tile in [
        ("diffusers default tiles", {}),
        ("4 tiles, 32 px overlap", {"tile_sample_min_height": 272, "tile_sample_stride_height": 240,
                                    "tile_sample_min_width": 464, "tile_sample_stride_width": 416}),
        ("2 tiles, full height", {"tile_sample_min_height": 480, "tile_sample_stride_height": 480,
                                  "tile_sample_min_width": 464, "tile_sample_stride_width": 416}),
        ("untiled", None),
    ]:  # fmt: skip
        if tile is None:
            vae.disable_tiling()
        else:
            vae.use_tiling = False
            vae.tile_sample_min_height = vae.tile_sample_min_width = 256
            vae.tile_sample_stride_height = vae.tile_sample_stride_width = 192
            vae.enable_tiling(**tile)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        with torch.inference_mode():
            times = cuda_time(lambda: vae.decode(latents, return_dict=False), repeat=2, warmup=1)
        row = {"tiling": name, "tile": tile, "s": min(times),
               "peak_above_weights_gib": (torch.cuda.max_memory_allocated() - base) / 2**30}  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    vae.to("meta")
    torch.cuda.empty_cache()
    return rows


def run_explore(out: Path) -> None:
    """Where the per-step time goes, what exact changes buy, and what VAE tiles cost."""
    import torch

    torch._dynamo.config.automatic_dynamic_shapes = False  # a batch of 2 gets its own graph
    torch._dynamo.config.cache_size_limit = 16
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "torch": torch.__version__,
                              "device": torch.cuda.get_device_name()}  # fmt: skip
    result["matmul_tflops"] = matmul_ceiling()
    result["attention"] = attention_kernels()
    result["vae_tiles"] = vae_tiles()
    out.write_text(json.dumps(result, indent=2))
    pipe = build_pipeline("cuda")
    transformer = pipe.transformer
    latents, cond, uncond, timestep = step_inputs()
    both_latents, both_text = torch.cat([latents, latents]), torch.cat([cond, uncond])

    @torch.inference_mode()
    def guided_step() -> None:
        transformer(latents, timestep, cond, return_dict=False)
        transformer(latents, timestep, uncond, return_dict=False)

    @torch.inference_mode()
    def batched_step() -> None:
        transformer(both_latents, timestep.expand(2), both_text, return_dict=False)

    flops = 2 * transformer_flops(latent_tokens())
    rows = []

    def measure(name: str, step: Any) -> None:
        started = time.perf_counter()
        step()
        torch.cuda.synchronize()
        first = time.perf_counter() - started
        times = cuda_time(step, repeat=5, warmup=1)
        median = sorted(times)[len(times) // 2]
        rows.append({"variant": name, "s_per_step": median, "all_s": times, "first_call_s": first,
                     "tflops": flops / median / 1e12, "mfu": flops / median / 1e12 / result["matmul_tflops"]})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
        result["steps"] = rows
        out.write_text(json.dumps(result, indent=2))

    measure("diffusers default (native SDPA)", guided_step)
    result["profile_default"] = kernel_profile(guided_step)
    transformer.compile_repeated_blocks(fullgraph=True)
    measure("regional compile", guided_step)
    result["profile_compiled"] = kernel_profile(guided_step)
    measure("regional compile, CFG as one batch of 2", batched_step)
    transformer.fuse_qkv_projections()
    measure("regional compile, fused QKV", guided_step)
    measure("regional compile, fused QKV, CFG batch of 2", batched_step)
    out.write_text(json.dumps(result, indent=2))
    print(f"\n{result['device']}, matmul {result['matmul_tflops']:.0f} TFLOP/s")
    for a in result["attention"]:
        print(
            f"attention b{a['batch']} {a['backend']:10} "
            + (f"{a['ms']:8.1f} ms {a['tflops']:5.0f} TFLOP/s" if "ms" in a else a["error"][:60])
        )
    for t in result["vae_tiles"]:
        print(f"VAE {t['tiling']:28} {t['s']:6.2f} s {t['peak_above_weights_gib']:6.2f} GiB")
    for key in ("profile_default", "profile_compiled"):
        print(key, {k: round(v, 3) for k, v in result[key]["groups_s"].items()})
    for r in rows:
        print(f"{r['variant']:45} {r['s_per_step']:7.3f} s/step {r['mfu']:6.1%}")


def one_cap(cap: float | None, steps: int, level: int | None = None) -> dict[str, Any]:
    """Runs inside a fresh process: the planner and runner under one memory cap.

    `level` forces a plan level instead of the planner's choice, to measure a level's real
    peak under a cap the planner does not yet trust it with.
    """
    import torch

    from generation.planner import level_peak, make_plan, plan_for_level
    from generation.presets import get_preset, resolve_job
    from generation.probe import probe_hardware
    from generation.runner import PipelineRunner
    from vidflow.spec import JobSpec

    if cap is not None:
        os.environ["VIDFLOW_GPU_MEMORY_GIB"] = str(cap)
    preset = get_preset("wan2.1-t2v-1.3b")
    spec = JobSpec(id="bench", prompt="a boat on a lake", steps=steps, preset=preset.name)
    job = resolve_job(spec, "bench.yaml", preset.name)
    # Build first (on the GPU, then moved to the CPU), so the cap binds only the job.
    pipe = build_pipeline("cpu")
    probe = probe_hardware()
    plan = make_plan(preset, job, probe)
    if level is not None:
        peak, tile = level_peak(preset, job, level, plan.budget_gib)
        plan = plan_for_level(level, plan.dtype, peak, plan.budget_gib, fits=True, vae_tile=tile,
                              reason="forced by the benchmark")  # fmt: skip
    row: dict[str, Any] = {"cap_gib": cap, "forced_level": level, "probe": probe.model_dump(),
                           "plan": plan.model_dump()}  # fmt: skip
    if not plan.fits:
        row["result"] = "refused: " + plan.reason
        return row
    torch.cuda.reset_peak_memory_stats()
    try:
        runner = PipelineRunner(preset, plan, pipe)
        # A one-step job first, untimed: compilation and stream set-up are paid once per
        # batch in the product, so they stay out of the per-job wall time compared here.
        started = time.perf_counter()
        runner.generate(job.model_copy(update={"steps": 1}))
        row["warmup_s"] = time.perf_counter() - started
        _, timings = runner.generate(job)
        row |= {"result": "ok", "timings": timings, "phase_peak_gib": runner.last_peak_gib}
    except torch.OutOfMemoryError as exc:
        row["result"] = f"OOM: {exc}"[:200]
    row["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    row["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
    return row


def parse_caps(text: str) -> list[tuple[float | None, int | None]]:
    """ "none,6,6@3" -> [(None, None), (6.0, None), (6.0, 3)]."""
    runs: list[tuple[float | None, int | None]] = []
    for item in text.split(","):
        cap, _, level = item.strip().partition("@")
        runs.append((None if cap == "none" else float(cap), int(level) if level else None))
    return runs


def run_caps(out: Path, steps: int, caps: str) -> None:
    rows: list[dict[str, Any]] = []
    for cap, level in parse_caps(caps):
        forced = ["--level", str(level)] if level is not None else []
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "generation.bench.bench_wan", "one-cap", str(cap or 0),
                 "--steps", str(steps), *forced],
                capture_output=True, text=True, timeout=420, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            rows.append({"cap_gib": cap, "result": "timed out after 420 s"})
            print(json.dumps(rows[-1]), flush=True)
            continue
        line = next((l for l in proc.stdout.splitlines() if l.startswith("{")), None)
        rows.append(json.loads(line) if line else {"cap_gib": cap, "result": proc.stderr[-400:]})
        print(json.dumps(rows[-1]), flush=True)
        # Written after every cap, so a call cut short still brings back what it measured.
        out.write_text(json.dumps({"steps": steps, "caps": rows}, indent=2))
    out.write_text(json.dumps({"steps": steps, "caps": rows, "date": time.strftime("%Y-%m-%d")},
                              indent=2))  # fmt: skip
    uncapped = next((r for r in rows if r["cap_gib"] is None and r.get("timings")), None)
    print(f"\nwhole job, {steps} steps, 480x832x81, CFG; one process per cap; level* = forced")
    print(f"{'cap GiB':>8} {'level':>6} {'offload':>12} {'tiling':>6} {'pred GiB':>8} "
          f"{'peak GiB':>8} {'rsvd GiB':>8} {'wall s':>7} {'vs none':>7} result")  # fmt: skip
    for r in rows:
        p = r.get("plan", {})
        wall = (r.get("timings") or {}).get("total_s")
        ratio = wall / uncapped["timings"]["total_s"] if wall and uncapped else None
        shown = f"{p.get('level', '-')}{'*' if r.get('forced_level') is not None else ''}"
        # The runner resets the peak per phase, so the job's peak is the largest phase's.
        peak = max((r.get("phase_peak_gib") or {}).values(), default=r.get("peak_gib", 0))
        print(f"{r['cap_gib'] or 'none'!s:>8} {shown:>6} "
              f"{p.get('offload', '-'):>12} {p.get('vae_tiling', '-')!s:>6} "
              f"{p.get('predicted_peak_gib', 0):8.1f} {peak:8.2f} "
              f"{r.get('peak_reserved_gib', 0):8.2f} "
              f"{wall or 0:7.1f} {ratio or 0:7.2f} {str(r.get('result'))[:50]}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["steps", "explore", "caps", "one-cap"])
    parser.add_argument("cap", nargs="?", type=float, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench.json"))
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--level", type=int, help="one-cap: force this plan level")
    parser.add_argument("--caps", default=CAPS, help=f"caps: which runs (default {CAPS})")
    args = parser.parse_args()
    if args.part == "steps":
        run_steps(args.out)
    elif args.part == "explore":
        run_explore(args.out)
    elif args.part == "caps":
        run_caps(args.out, args.steps, args.caps)
    else:
        print(json.dumps(one_cap(args.cap or None, args.steps, args.level)))


if __name__ == "__main__":
    main()
