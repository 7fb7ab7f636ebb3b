"""GPU benchmark of generation in the Wan2.1-1.3B shapes (480x832, 81 frames), random weights.

Random weights give real timings (the arithmetic does not depend on the values) and noise
pixels. Each part is meant for one call on the GPU machine:

  videos: whole videos compared like with like in one run, each mode in a fresh process
          after an untimed warm-up video in that process (a warm model, as a batch's
          second job sees it): diffusers' default WanPipeline (uncompiled, native
          attention, 50 guided steps, float frames converted on the host), vidflow's exact
          plan for the same job (wan2.1-t2v-1.3b), the fast preset (fastwan2.1-t2v-1.3b:
          3 steps, no CFG, Video Sparse Attention at 0.8 sparsity with random gate
          weights) and, with --modes, the fast preset with dense attention; each with its
          encode / denoise / decode split; then the decode floor: the VAE decode alone in
          float32 and bfloat16, eager and compiled, and the hand-off to the host as float
          frames or as uint8 made on the GPU. Opt-in modes time the exact job with each
          step cache (exact-first-block, exact-taylorseer). `--smoke` runs every mode on the CPU with
          the tiny model at 64x96x9 (CI runs it), to prove the script before GPU time.
  steps:  seconds per guided denoising step for diffusers' default settings and for
          vidflow's choices, side by side in one process; MFU against a matmul ceiling
          measured in the same run.
  caps:   a whole job through vidflow's planner and runner under per-process memory caps,
          one fresh process per cap: plan chosen, peak memory, wall time (after an untimed
          one-step warm-up, as a batch's first job pays for compilation).

    python -m generation.bench.bench_wan videos --out bench-videos.json
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
    # Whole videos are the `videos` part's: here the transformer is compiled by now, so a
    # "default" video made in this process would not be diffusers' default.
    result = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "shape": [HEIGHT, WIDTH, FRAMES],
        "floor_s_per_step": 2 * transformer_flops(latent_tokens()) / (ceiling * 1e12),
        "matmul_tflops": ceiling,
        "steps": rows,
        "speedup_per_step": default["s_per_step"] / best["s_per_step"],
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


# --- videos: whole videos, like with like -------------------------------------------------

VIDEO_MODES = ("default", "exact", "fast", "fast-dense", "decode", "exact-first-block",
               "exact-taylorseer")  # fmt: skip
DEFAULT_VIDEO_MODES = "default,exact,fast,decode"
SMOKE_SHAPE = (64, 96, 9)  # height, width, frames: a 3x4x6 patch grid, partial VSA cubes
PROMPT, NEGATIVE = "a boat on a lake", "blurry"


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _shape(smoke: bool) -> tuple[int, int, int]:
    return SMOKE_SHAPE if smoke else (HEIGHT, WIDTH, FRAMES)


def _pipeline(smoke: bool) -> Any:
    """The 1.3B-shaped pipeline on the GPU, or the tiny one on the CPU for --smoke."""
    if smoke:
        from generation.tiny import build_tiny_pipeline

        return build_tiny_pipeline()
    return build_pipeline("cuda")


def random_gates(transformer: Any, seed: int = 0) -> dict[str, Any]:
    """`to_gate_compress` weights for every block, random (the checkpoint's are learned)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    dim = transformer.config.num_attention_heads * transformer.config.attention_head_dim
    gates = {}
    for i in range(len(transformer.blocks)):
        gates[f"blocks.{i}.attn1.to_gate_compress.weight"] = (
            torch.randn(dim, dim, generator=generator) * 0.02
        )
        gates[f"blocks.{i}.attn1.to_gate_compress.bias"] = torch.zeros(dim)
    return gates


def default_video(smoke: bool) -> dict[str, Any]:
    """diffusers' default WanPipeline as its docs run it: no compile, native attention,
    float frames out, converted to uint8 on the host as a caller must."""
    import numpy as np
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler

    height, width, frames = _shape(smoke)
    steps = 2 if smoke else 50
    pipe = _pipeline(smoke)
    pipe.scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    pipe.set_progress_bar_config(disable=True)
    marks: dict[str, float] = {}

    def encoded(*_: Any) -> None:
        _sync()
        marks["encoded"] = time.perf_counter()  # the last encoder call: negative prompt

    def stepped(pipe_: Any, step: int, _t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if step == pipe_.num_timesteps - 1:  # once, as the runner does: no stall per step
            _sync()
            marks["denoised"] = time.perf_counter()
        return kwargs

    pipe.text_encoder.register_forward_hook(encoded)

    def video(num_steps: int) -> np.ndarray:
        out = pipe(PROMPT, negative_prompt=NEGATIVE, height=height, width=width,
                   num_frames=frames, num_inference_steps=num_steps, guidance_scale=5.0,
                   output_type="np", generator=torch.Generator().manual_seed(0),
                   callback_on_step_end=stepped).frames[0]  # fmt: skip
        return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)

    started = time.perf_counter()
    video(1)  # warm-up: CUDA context, cuDNN plans, allocator
    warmup_s = time.perf_counter() - started
    marks.clear()
    _sync()
    start = time.perf_counter()
    video(steps)
    end = time.perf_counter()
    timings = {
        "encode_s": marks["encoded"] - start,
        "denoise_s": marks["denoised"] - marks["encoded"],
        "decode_s": end - marks["denoised"],
        "total_s": end - start,
    }
    return {"steps": steps, "cfg": True, "attention": "native SDPA", "compile": False,
            "warmup_s": warmup_s, "timings": timings}  # fmt: skip


def runner_video(mode: str, smoke: bool) -> dict[str, Any]:
    """A whole job through vidflow's planner and runner: the exact preset, or the fast one
    (with VSA as its checkpoint needs, or dense for comparison)."""
    from generation.planner import make_plan
    from generation.presets import get_preset, resolve_job
    from generation.probe import probe_hardware
    from generation.runner import PipelineRunner
    from generation.vsa import attach_gates
    from vidflow.spec import JobSpec

    exact = mode.startswith("exact")
    preset = get_preset("wan2.1-t2v-1.3b" if exact else "fastwan2.1-t2v-1.3b")
    if mode == "fast-dense":
        preset = preset.model_copy(update={"attention": "dense"})
    height, width, frames = _shape(smoke)
    steps = min(2, preset.defaults.steps) if smoke else preset.defaults.steps
    cache = mode.removeprefix("exact-") if mode.startswith("exact-") else None
    spec = JobSpec.model_validate({"id": "bench", "prompt": PROMPT, "negative_prompt": NEGATIVE,
                                   "width": width, "height": height, "num_frames": frames,
                                   "steps": steps, "step_cache": cache})  # fmt: skip
    job = resolve_job(spec, "bench.yaml", preset.name)
    pipe = _pipeline(smoke)
    if preset.attention == "vsa":
        attach_gates(pipe.transformer, random_gates(pipe.transformer), "random gates")
    plan = make_plan(preset, job, probe_hardware())
    runner = PipelineRunner(preset, plan, pipe)
    started = time.perf_counter()
    runner.generate(job.model_copy(update={"steps": 1}))  # warm-up: compiles the blocks
    warmup_s = time.perf_counter() - started
    frames_out, timings = runner.generate(job)
    return {"steps": steps, "cfg": job.guidance_scale > 1.0,
            "attention": f"vsa {preset.vsa_sparsity:g}" if preset.attention == "vsa" else "native SDPA",
            "compile": plan.compile, "plan_level": plan.level, "warmup_s": warmup_s,
            "step_cache": cache,
            "timings": timings, "frames_shape": list(frames_out.shape),
            "phase_peak_gib": runner.last_peak_gib}  # fmt: skip


def decode_floor(smoke: bool) -> dict[str, Any]:
    """The VAE decode alone per precision and compile, and the hand-off to the host."""
    import numpy as np
    import torch

    from generation.runner import to_uint8_frames

    height, width, frames = _shape(smoke)
    device = "cpu" if smoke else "cuda"
    vae = _pipeline(smoke).vae if smoke else _randomize_vae()
    z = vae.config.z_dim
    latents = torch.randn(1, z, (frames - 1) // 4 + 1, height // 8, width // 8, device=device)
    repeat = 1 if smoke else 2
    rows: list[dict[str, Any]] = []
    video = None
    for dtype_name, compiled in (("float32", False), ("bfloat16", False), ("float32", True),
                                 ("bfloat16", True)):  # fmt: skip
        if smoke and compiled:
            continue  # compiling the VAE on a shared CPU takes minutes and proves nothing
        dtype = getattr(torch, dtype_name)
        vae.to(dtype)
        decoder = torch.compile(vae.decode) if compiled else vae.decode
        with torch.inference_mode():
            started = time.perf_counter()
            decoder(latents.to(dtype), return_dict=False)
            _sync()
            first_s = time.perf_counter() - started
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                video = decoder(latents.to(dtype), return_dict=False)[0]
                _sync()
                times.append(time.perf_counter() - started)
        rows.append({"vae": dtype_name, "compiled": compiled, "s": min(times),
                     "first_call_s": first_s})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    assert video is not None
    # The hand-off: [1, C, T, H, W] in [-1, 1] -> uint8 [T, H, W, C] on the host.
    frames_01 = (video[0].float().permute(1, 0, 2, 3) / 2 + 0.5).clamp(0, 1)
    _sync()
    started = time.perf_counter()
    host = frames_01.permute(0, 2, 3, 1).cpu().numpy()
    np.clip(np.rint(host * 255.0), 0, 255).astype(np.uint8)
    float_host_s = time.perf_counter() - started
    started = time.perf_counter()
    to_uint8_frames(frames_01)
    uint8_device_s = time.perf_counter() - started
    return {"decode": rows, "handoff": {"float_copy_then_host_uint8_s": float_host_s,
                                        "uint8_on_device_then_copy_s": uint8_device_s}}  # fmt: skip


def _randomize_vae() -> Any:
    import torch
    from diffusers import AutoencoderKLWan

    with torch.device("meta"):
        vae: Any = AutoencoderKLWan()
    return _randomize(vae.to_empty(device="cuda").float()).eval()


def one_video(mode: str, smoke: bool) -> dict[str, Any]:
    """Runs inside a fresh process: one mode of the `videos` part."""
    import torch

    row: dict[str, Any] = {"mode": mode}
    if mode == "default":
        row |= default_video(smoke)
    elif mode == "decode":
        row |= decode_floor(smoke)
    else:
        row |= runner_video(mode, smoke)
    if torch.cuda.is_available():
        row["device"] = torch.cuda.get_device_name()
        row["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return row


def run_videos(out: Path, modes: str, smoke: bool, timeout_s: float) -> dict[str, Any]:
    import torch

    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "torch": torch.__version__,
                              "smoke": smoke, "shape": list(_shape(smoke)), "modes": []}  # fmt: skip
    for mode in modes.split(","):
        if mode not in VIDEO_MODES:
            raise SystemExit(f"unknown mode {mode!r}; modes: {', '.join(VIDEO_MODES)}")
        command = [sys.executable, "-m", "generation.bench.bench_wan", "one-video", "--mode", mode]
        try:
            proc = subprocess.run([*command, *(["--smoke"] if smoke else [])],
                                  capture_output=True, text=True, timeout=timeout_s,
                                  check=False)  # fmt: skip
            line = next((l for l in reversed(proc.stdout.splitlines()) if l.startswith('{"mode"')),
                        None)  # fmt: skip
            row = json.loads(line) if line else {"mode": mode, "error": proc.stderr[-600:]}
        except subprocess.TimeoutExpired as exc:
            row = {"mode": mode, "error": f"timed out after {timeout_s:.0f} s"}
            # The decode floor prints each variant as it finishes: keep those it reached.
            printed = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            decoded = [json.loads(l) for l in printed.splitlines() if l.startswith('{"vae"')]
            if decoded:
                row["decode"] = decoded
        result["modes"].append(row)
        print(json.dumps(row), flush=True)
        # Written after every mode, so a call cut short still brings back what it measured.
        out.write_text(json.dumps(result, indent=2))
    print_videos(result)
    return result


def print_videos(result: dict[str, Any]) -> None:
    rows = {r["mode"]: r for r in result["modes"]}
    base = (rows.get("default", {}).get("timings") or {}).get("total_s")
    height, width, frames = result["shape"]
    print(
        f"\nwhole videos, {height}x{width}x{frames}, warm model, one fresh process per mode"
        + (" (SMOKE: tiny model on the CPU, not a measurement)" if result["smoke"] else "")
    )
    print(f"{'mode':17} {'steps':>5} {'CFG':>4} {'attention':>12} {'compile':>7} {'whole s':>8} "
          f"{'encode':>7} {'denoise':>8} {'decode':>7} {'vs default':>10}")  # fmt: skip
    for row in result["modes"]:
        if "timings" not in row:
            if "error" in row:
                print(f"{row['mode']:17} error: {row['error'][-200:]}")
            continue
        t = row["timings"]
        ratio = f"{base / t['total_s']:.2f}x" if base else "-"
        print(f"{row['mode']:17} {row['steps']:5d} {'yes' if row['cfg'] else 'no':>4} "
              f"{row['attention']:>12} {'yes' if row['compile'] else 'no':>7} "
              f"{t['total_s']:8.2f} {t['encode_s']:7.2f} {t['denoise_s']:8.2f} "
              f"{t['decode_s']:7.2f} {ratio:>10}")  # fmt: skip
    decode = rows.get("decode", {})
    for d in decode.get("decode", []):
        print(f"VAE decode alone, {d['vae']:8} {'compiled' if d['compiled'] else 'eager':8} "
              f"{d['s']:7.2f} s (first call {d['first_call_s']:.1f} s)")  # fmt: skip
    if "handoff" in decode:
        h = decode["handoff"]
        print(f"hand-off to the host: float copy + host uint8 {h['float_copy_then_host_uint8_s']:.3f} s, "
              f"uint8 on the device + copy {h['uint8_on_device_then_copy_s']:.3f} s")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["videos", "steps", "explore", "caps", "one-cap",
                                         "one-video"])  # fmt: skip
    parser.add_argument("cap", nargs="?", type=float, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench.json"))
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--level", type=int, help="one-cap: force this plan level")
    parser.add_argument("--caps", default=CAPS, help=f"caps: which runs (default {CAPS})")
    parser.add_argument("--modes", default=DEFAULT_VIDEO_MODES,
                        help=f"videos: which of {', '.join(VIDEO_MODES)} "
                        f"(default {DEFAULT_VIDEO_MODES})")  # fmt: skip
    parser.add_argument("--mode", choices=VIDEO_MODES, help="one-video: the mode to run")
    parser.add_argument("--smoke", action="store_true",
                        help="videos: the tiny model on the CPU, to test the script")  # fmt: skip
    parser.add_argument("--mode-timeout", type=float, default=170.0,
                        help="videos: seconds per mode's process")  # fmt: skip
    args = parser.parse_args(argv)
    if args.part == "videos":
        run_videos(args.out, args.modes, args.smoke, args.mode_timeout)
    elif args.part == "one-video":
        print(json.dumps(one_video(args.mode, args.smoke)))
    elif args.part == "steps":
        run_steps(args.out)
    elif args.part == "explore":
        run_explore(args.out)
    elif args.part == "caps":
        run_caps(args.out, args.steps, args.caps)
    else:
        print(json.dumps(one_cap(args.cap or None, args.steps, args.level)))


if __name__ == "__main__":
    main()
