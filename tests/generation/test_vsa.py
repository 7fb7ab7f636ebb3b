"""Video Sparse Attention: the FlexAttention implementation against the dense reference,
and the gate weights' way from a saved checkpoint into the transformer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from generation.tiny import build_tiny_pipeline
from generation.vsa import (
    CUBE_TOKENS,
    attach_gates,
    cube_layout,
    enable_vsa,
    from_cubes,
    read_gate_weights,
    reference_vsa,
    to_cubes,
    top_k,
    video_sparse_attention,
)
from vidflow.errors import ModelUnavailableError


def _qkvg(grid: tuple[int, int, int], heads: int = 2, dim: int = 16, seed: int = 0):  # type: ignore[no-untyped-def]
    generator = torch.Generator().manual_seed(seed)
    tokens = grid[0] * grid[1] * grid[2]
    return [
        torch.randn(1, tokens, heads, dim, generator=generator, dtype=torch.float64)
        for _ in range(4)
    ]


@pytest.mark.parametrize(
    ("grid", "sparsity"),
    [
        ((4, 8, 8), 0.5),  # whole cubes only
        ((4, 8, 8), 0.0),  # nothing skipped: every cube selected
        ((5, 6, 7), 0.8),  # partial cubes on every axis
        ((3, 5, 9), 0.9),  # fewer frames than a cube; one cube kept
        ((6, 10, 4), 0.3),
    ],
)
def test_flex_vsa_equals_the_dense_reference(grid: tuple[int, int, int], sparsity: float) -> None:
    q, k, v, g = _qkvg(grid)
    got = video_sparse_attention(q, k, v, g, cube_layout(grid, q.device), sparsity)
    want = reference_vsa(q, k, v, g, grid, sparsity)
    assert got.shape == q.shape
    # FlexAttention accumulates its softmax in float32; a wrong cube would differ by ~0.1.
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_sparsity_changes_the_output_and_zero_sparsity_is_dense_plus_gated_coarse() -> None:
    grid = (5, 6, 7)
    q, k, v, g = _qkvg(grid, seed=1)
    dense = torch.nn.functional.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    ).transpose(1, 2)
    no_gate = torch.zeros_like(g)
    layout = cube_layout(grid, q.device)
    # All cubes selected and a zero gate: exactly dense attention (partial cubes' empty
    # slots must not leak into the softmax).
    torch.testing.assert_close(video_sparse_attention(q, k, v, no_gate, layout, 0.0), dense)
    sparse = video_sparse_attention(q, k, v, no_gate, layout, 0.8)
    assert not torch.allclose(sparse, dense)
    gated = video_sparse_attention(q, k, v, g, layout, 0.8)
    assert not torch.allclose(gated, sparse)


def test_cube_layout_round_trips_and_counts_partial_cubes() -> None:
    grid = (5, 6, 7)
    layout = cube_layout(grid, torch.device("cpu"))
    assert layout.cubes == 2 * 2 * 2
    assert int(layout.tokens_per_cube.sum()) == 5 * 6 * 7
    assert layout.tokens_per_cube.tolist()[:2] == [64, 4 * 4 * 3]
    assert int(layout.slot_is_real.sum()) == 5 * 6 * 7
    x = torch.randn(2, 5 * 6 * 7, 3, 4)
    cubed = to_cubes(x, layout)
    assert cubed.shape[1] == layout.cubes * CUBE_TOKENS
    assert torch.equal(from_cubes(cubed, layout), x)
    assert torch.count_nonzero(cubed[:, ~layout.slot_is_real]) == 0
    # The first cube holds grid positions (t<4, h<4, w<4) in grid order.
    first = x.view(2, 5, 6, 7, 3, 4)[:, :4, :4, :4].reshape(2, 64, 3, 4)
    assert torch.equal(cubed[:, :64], first)


def test_top_k_counts_as_fastvideo() -> None:
    assert top_k(0.8, 100) == 20
    assert top_k(0.8, 7) == 2  # ceil(1.4)
    assert top_k(0.99, 3) == 1 and top_k(0.0, 3) == 3


def _gated_checkpoint(
    tmp_path: Path, with_gates: bool, prefix: str = "attn1."
) -> tuple[Path, torch.nn.Module]:
    transformer = build_tiny_pipeline().transformer.eval()
    state = {name: tensor.contiguous() for name, tensor in transformer.state_dict().items()}
    torch.manual_seed(3)
    dim = transformer.config.num_attention_heads * transformer.config.attention_head_dim
    if with_gates:
        for i in range(len(transformer.blocks)):
            state[f"blocks.{i}.{prefix}to_gate_compress.weight"] = torch.randn(dim, dim) * 0.1
            state[f"blocks.{i}.{prefix}to_gate_compress.bias"] = torch.randn(dim) * 0.1
    folder = tmp_path / "transformer"
    transformer.save_config(folder)
    save_file(state, str(folder / "diffusion_pytorch_model.safetensors"))
    return folder, transformer


@pytest.mark.parametrize("prefix", ["attn1.", ""])  # diffusers-style and FastVideo's names
def test_gate_weights_load_from_a_saved_checkpoint_and_drive_vsa(
    tmp_path: Path, prefix: str
) -> None:
    from diffusers import WanTransformer3DModel

    folder, _ = _gated_checkpoint(tmp_path, with_gates=True, prefix=prefix)
    gates = read_gate_weights(folder)
    assert len(gates) == 4
    # diffusers loads the same folder and drops the gate keys: VSA must attach them.
    transformer = WanTransformer3DModel.from_pretrained(folder).eval()
    assert not hasattr(transformer.blocks[0].attn1, "to_gate_compress")
    latents = torch.randn(1, 16, 3, 12, 14)  # a 3x6x7 grid: partial cubes
    text = torch.randn(1, 8, transformer.config.text_dim)
    timestep = torch.tensor([500.0])
    with torch.inference_mode():
        dense = transformer(latents, timestep, text, return_dict=False)[0]
        attach_gates(transformer, gates, str(folder))
        loaded = transformer.blocks[1].attn1.to_gate_compress
        assert torch.equal(loaded.weight, gates["blocks.1.attn1.to_gate_compress.weight"])
        state = enable_vsa(transformer, sparsity=0.75)
        sparse = transformer(latents, timestep, text, return_dict=False)[0]
    assert state.layout is not None and state.layout.grid == (3, 6, 7)
    assert sparse.shape == dense.shape and not torch.allclose(sparse, dense)


def test_a_checkpoint_without_gates_is_refused_by_name(tmp_path: Path) -> None:
    folder, transformer = _gated_checkpoint(tmp_path, with_gates=False)
    gates = read_gate_weights(folder)
    assert gates == {}
    with pytest.raises(ModelUnavailableError, match="blocks.0.attn1.to_gate_compress.weight"):
        attach_gates(transformer, gates, str(folder))
    with pytest.raises(ModelUnavailableError, match="attach_gates"):
        enable_vsa(transformer, sparsity=0.8)


@pytest.mark.slow
def test_regionally_compiled_vsa_blocks_equal_the_eager_ones() -> None:
    """The GPU plan compiles each block (fullgraph=True, so a graph break is an error) and
    the block mask is then built inside the graph, where only its block lists select the
    cubes. Inductor's CPU build of the same graph (about 90 s here) must give the eager
    result, partial cubes and a real sparsity included."""
    transformer = build_tiny_pipeline().transformer.eval()
    dim = transformer.config.num_attention_heads * transformer.config.attention_head_dim
    generator = torch.Generator().manual_seed(5)
    gates = {}
    for i in range(len(transformer.blocks)):
        gates[f"blocks.{i}.attn1.to_gate_compress.weight"] = (
            torch.randn(dim, dim, generator=generator) * 0.1
        )
        gates[f"blocks.{i}.attn1.to_gate_compress.bias"] = torch.zeros(dim)
    attach_gates(transformer, gates, "test")
    enable_vsa(transformer, sparsity=0.5)
    latents = torch.randn(1, 16, 5, 12, 14, generator=generator)  # a 5x6x7 grid
    text = torch.randn(1, 8, transformer.config.text_dim, generator=generator)
    timestep = torch.tensor([500.0])
    with torch.inference_mode():
        eager = transformer(latents, timestep, text, return_dict=False)[0]
        transformer.compile_repeated_blocks(fullgraph=True)
        compiled = transformer(latents, timestep, text, return_dict=False)[0]
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-4)


def test_the_fast_preset_loads_its_gates_and_runs_vsa_end_to_end(
    tmp_path: Path, session_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The product path: a FastWan-style checkpoint folder (the tiny model plus gate
    weights) behind the fast preset, through locate_weights, the runner and a video."""
    from safetensors.torch import load_file

    from generation.planner import make_plan
    from generation.presets import get_preset, resolve_job
    from generation.probe import Probe
    from generation.runner import PipelineRunner
    from generation.vsa import WanVSAProcessor
    from vidflow.spec import JobSpec

    build_tiny_pipeline().save_pretrained(tmp_path / "fastwan")
    weights = tmp_path / "fastwan" / "transformer" / "diffusion_pytorch_model.safetensors"
    without_gates = load_file(str(weights))
    preset = get_preset("fastwan2.1-t2v-1.3b")
    monkeypatch.setenv(preset.env_var, str(tmp_path / "fastwan"))
    spec = JobSpec(id="f", prompt="a boat", width=96, height=64, num_frames=5, steps=2)
    job = resolve_job(spec, "f.yaml", preset.name)
    plan = make_plan(preset, job, Probe())
    with pytest.raises(ModelUnavailableError, match="to_gate_compress"):
        PipelineRunner.load(preset, plan, session_cache)

    gates = {}
    for i in range(2):
        gates[f"blocks.{i}.attn1.to_gate_compress.weight"] = torch.randn(24, 24) * 0.1
        gates[f"blocks.{i}.attn1.to_gate_compress.bias"] = torch.randn(24) * 0.1
    save_file(without_gates | gates, str(weights))
    runner = PipelineRunner.load(preset, plan, session_cache)
    assert isinstance(runner.pipe.transformer.blocks[0].attn1.processor, WanVSAProcessor)
    assert runner.job_settings(job)["attention"] == "vsa"
    frames, _ = runner.generate(job)
    assert frames.shape == (5, 64, 96, 3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_compiled_flex_vsa_on_the_gpu_matches_its_eager_form(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The GPU path: FlexAttention compiled (Triton), bfloat16, FastWan's head size, against
    the eager form (which the CPU tests hold to the reference) on the same inputs, so the
    cube selection is the same and only the fine kernel differs."""
    from torch.nn.attention.flex_attention import flex_attention

    from generation import vsa

    grid = (5, 18, 22)  # partial cubes on every axis; 1,980 tokens
    q, k, v, g = (x.to("cuda", torch.bfloat16) for x in _qkvg(grid, heads=12, dim=128, seed=4))
    layout = cube_layout(grid, q.device)
    compiled = video_sparse_attention(q, k, v, g, layout, 0.8)
    monkeypatch.setattr(
        vsa, "_flex", lambda q, k, v, mask: flex_attention(q, k, v, block_mask=mask)
    )
    eager = video_sparse_attention(q, k, v, g, layout, 0.8)
    torch.testing.assert_close(compiled, eager, rtol=2e-2, atol=2e-2)
