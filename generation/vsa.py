"""Video Sparse Attention (VSA) for Wan transformers, as FastWan was trained with it.

FastWan2.1 was sparse-distilled with VSA (Zhang et al., "Faster Video Diffusion with
Trainable Sparse Attention", arXiv 2505.13389; FastVideo's `video_sparse_attn`). Its
self-attention has two branches over the video tokens, grouped into 4x4x4 cubes of the
(frame, height, width) patch grid:

    coarse  the cubes' mean queries, keys and values attend to each other (one token per
            cube); every token of a query cube receives its cube's coarse output
    fine    each query cube attends, token by token, only to the keys of the top-k cubes
            by coarse score, k = ceil((1 - sparsity) * cubes)

    output = fine + gate * coarse,   gate = to_gate_compress(normed hidden states)

`to_gate_compress` is a per-block linear layer the checkpoint carries and diffusers'
WanTransformer3DModel does not have; `read_gate_weights` takes it from the checkpoint's
safetensors and `attach_gates` gives each block its layer. A cube at the grid's far edge
may be partial (the grid is not a multiple of 4): its mean is over its real tokens only
and its missing tokens are never attended to, as FastVideo pads and masks them.

The fine branch runs through PyTorch FlexAttention with a block mask of 64-token blocks
(one cube a block), so only the selected blocks are computed; `reference_vsa` is a plain
dense PyTorch statement of the same semantics, used by the tests.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.attention.flex_attention import BlockMask, flex_attention

from vidflow.errors import ModelUnavailableError

CUBE = (4, 4, 4)
CUBE_TOKENS = math.prod(CUBE)
GATE = "to_gate_compress"
# FastVideo's Wan blocks hold the layer directly (`blocks.N.to_gate_compress`); a diffusers-
# style export may name it under the self-attention (`blocks.N.attn1.to_gate_compress`).
_GATE_KEY = re.compile(r"^blocks\.(\d+)\.(?:attn1\.)?to_gate_compress\.(weight|bias)$")


@dataclass(frozen=True)
class CubeLayout:
    """Where each token of a (frames, height, width) patch grid sits once grouped in cubes.

    The cube-ordered sequence holds every cube as 64 slots, cube after cube; a partial cube
    leaves its last slots empty (zeros, masked as keys).
    """

    grid: tuple[int, int, int]
    cubes: int
    slot_of_token: torch.Tensor  # [S] the slot each token (in grid order) goes to
    tokens_per_cube: torch.Tensor  # [cubes] real tokens in each cube
    slot_is_real: torch.Tensor  # [cubes * 64] bool

    @property
    def slots(self) -> int:
        return self.cubes * CUBE_TOKENS


@lru_cache(maxsize=16)
def cube_layout(grid: tuple[int, int, int], device: torch.device) -> CubeLayout:
    frames, height, width = grid
    n_t, n_h, n_w = (math.ceil(size / edge) for size, edge in zip(grid, CUBE, strict=True))
    t, h, w = torch.meshgrid(
        torch.arange(frames), torch.arange(height), torch.arange(width), indexing="ij"
    )
    cube = (((t // 4) * n_h + h // 4) * n_w + w // 4).flatten()
    cubes = n_t * n_h * n_w
    counts = torch.bincount(cube, minlength=cubes)
    # Tokens grouped by cube; inside a cube they keep grid order (frame, row, column), as
    # FastVideo's tiling flattens each cube.
    order = torch.argsort(cube, stable=True)
    rank = torch.empty_like(order)
    starts = torch.cumsum(counts, 0) - counts
    rank[order] = torch.arange(order.numel()) - starts[cube[order]]
    slot = cube * CUBE_TOKENS + rank
    real = torch.zeros(cubes * CUBE_TOKENS, dtype=torch.bool)
    real[slot] = True
    return CubeLayout(
        grid=grid,
        cubes=cubes,
        slot_of_token=slot.to(device),
        tokens_per_cube=counts.to(device),
        slot_is_real=real.to(device),
    )


def to_cubes(x: torch.Tensor, layout: CubeLayout) -> torch.Tensor:
    """[B, S, H, D] in grid order -> [B, cubes * 64, H, D], zeros in the empty slots."""
    out = x.new_zeros(x.shape[0], layout.slots, *x.shape[2:])
    out[:, layout.slot_of_token] = x
    return out


def from_cubes(x: torch.Tensor, layout: CubeLayout) -> torch.Tensor:
    """[B, cubes * 64, H, D] -> [B, S, H, D] in grid order."""
    return x[:, layout.slot_of_token]


def top_k(sparsity: float, cubes: int) -> int:
    """Key cubes each query cube attends to finely, as FastVideo counts them."""
    return max(1, min(cubes, math.ceil((1.0 - sparsity) * cubes)))


def _cube_means(x: torch.Tensor, layout: CubeLayout) -> torch.Tensor:
    """[B, H, slots, D] -> [B, H, cubes, D]: the mean of each cube's real tokens."""
    b, h, _, d = x.shape
    # Summed in at least float32 (bfloat16 would round the sum of 64 tokens).
    wide = x.to(torch.promote_types(x.dtype, torch.float32))
    sums = wide.view(b, h, layout.cubes, CUBE_TOKENS, d).sum(3)
    return (sums / layout.tokens_per_cube.view(1, 1, -1, 1)).to(x.dtype)


def _block_mask(selected: torch.Tensor, layout: CubeLayout) -> BlockMask:
    """A FlexAttention block mask from the selected key cubes [B, H, cubes, k].

    The block lists let a compiled kernel visit only the selected cubes: fully real key
    cubes as 'full' blocks (no per-token check), partial ones checked token by token
    against the real slots. Eager FlexAttention evaluates the mask function everywhere
    instead of reading the lists, so a mask built eagerly also states the selection. Built
    inside a compiled graph it must not: a mask function reading a tensor made in the same
    graph gave wrong results (torch 2.14, CPU inductor), and the lists already select.
    """
    batch, heads, cubes, k = selected.shape
    full_cube = layout.tokens_per_cube[selected] == CUBE_TOKENS
    # Stable sorts put each kind first in its own list; the counts say how many are valid.
    full_first = torch.argsort((~full_cube).to(torch.int8), dim=-1, stable=True)
    partial_first = torch.argsort(full_cube.to(torch.int8), dim=-1, stable=True)
    # FlexAttention reads the lists' width as the number of key blocks: pad to it.
    width = (0, cubes - k)
    full_indices = F.pad(torch.gather(selected, -1, full_first), width).to(torch.int32)
    partial_indices = F.pad(torch.gather(selected, -1, partial_first), width).to(torch.int32)
    full_count = full_cube.sum(-1, dtype=torch.int32)
    partial_count = k - full_count
    real = layout.slot_is_real

    def real_keys(b: Any, h: Any, q_idx: Any, kv_idx: Any) -> Any:
        return real[kv_idx]

    mask_mod = real_keys
    if not torch.compiler.is_compiling():
        chosen = torch.zeros(batch, heads, cubes, cubes, dtype=torch.bool, device=selected.device)
        chosen.scatter_(-1, selected, True)

        def selected_real_keys(b: Any, h: Any, q_idx: Any, kv_idx: Any) -> Any:
            return chosen[b, h, q_idx // CUBE_TOKENS, kv_idx // CUBE_TOKENS] & real[kv_idx]

        mask_mod = selected_real_keys
    return BlockMask.from_kv_blocks(
        partial_count,
        partial_indices,
        full_count,
        full_indices,
        BLOCK_SIZE=CUBE_TOKENS,
        mask_mod=mask_mod,
        seq_lengths=(layout.slots, layout.slots),
        compute_q_blocks=False,
    )


_compiled_flex: Any = None


def _flex(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: BlockMask) -> torch.Tensor:
    """FlexAttention, compiled on a GPU: uncompiled it computes every score, block mask
    or not. On the CPU (tests) the eager form is exact and fast enough."""
    global _compiled_flex
    if q.device.type == "cpu" or torch.compiler.is_compiling():
        return flex_attention(q, k, v, block_mask=mask)  # type: ignore[return-value]
    if _compiled_flex is None:
        _compiled_flex = torch.compile(flex_attention, dynamic=False)
    return _compiled_flex(q, k, v, block_mask=mask)  # type: ignore[no-any-return]


def video_sparse_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    gate: torch.Tensor,
    layout: CubeLayout,
    sparsity: float,
) -> torch.Tensor:
    """VSA over [B, S, H, D] tensors in grid order (diffusers' layout); returns [B, S, H, D].

    The layout is built outside (`cube_layout`): its shapes depend on the data, which a
    compiled graph cannot hold, while everything here has shapes fixed by the grid.
    """
    # [B, slots, H, D] -> [B, H, slots, D]
    q, k, v, g = (to_cubes(x, layout).transpose(1, 2) for x in (query, key, value, gate))
    scale = q.shape[-1] ** -0.5

    # 1. Coarse: one token per cube.
    qc, kc, vc = (_cube_means(x, layout) for x in (q, k, v))
    scores = (qc @ kc.transpose(-1, -2)) * scale
    # The softmax in at least float32, as FastVideo's kernel accumulates it.
    weights = torch.softmax(scores, dim=-1, dtype=torch.promote_types(scores.dtype, torch.float32))
    coarse = weights.to(vc.dtype) @ vc
    coarse = coarse.repeat_interleave(CUBE_TOKENS, dim=2)

    # 2. Select the top-k key cubes of each query cube.
    selected = scores.topk(top_k(sparsity, layout.cubes), dim=-1).indices

    # 3. Fine: token-level attention inside the selected cubes only.
    fine = _flex(q, k, v, _block_mask(selected, layout))

    out = fine + g * coarse
    return from_cubes(out.transpose(1, 2), layout)


def reference_vsa(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    gate: torch.Tensor,
    grid: tuple[int, int, int],
    sparsity: float,
) -> torch.Tensor:
    """The same semantics in plain dense PyTorch, token by token in grid order, with no
    reordering, padding or block mask: the oracle `video_sparse_attention` is tested on."""
    frames, height, width = grid
    n_h, n_w = math.ceil(height / 4), math.ceil(width / 4)
    t, h, w = torch.meshgrid(
        torch.arange(frames), torch.arange(height), torch.arange(width), indexing="ij"
    )
    cube = (((t // 4) * n_h + h // 4) * n_w + w // 4).flatten().to(query.device)
    cubes = int(cube.max()) + 1
    member = F.one_hot(cube, cubes).to(query.dtype)  # [S, cubes]
    means = member / member.sum(0, keepdim=True)
    q, k, v, g = (x.transpose(1, 2) for x in (query, key, value, gate))  # [B, H, S, D]
    scale = q.shape[-1] ** -0.5
    qc, kc, vc = (means.T @ x for x in (q, k, v))
    scores = (qc @ kc.transpose(-1, -2)) * scale
    coarse = torch.softmax(scores, dim=-1) @ vc
    chosen = scores.topk(top_k(sparsity, cubes), dim=-1).indices
    allowed_cubes = torch.zeros_like(scores, dtype=torch.bool).scatter_(-1, chosen, True)
    allowed = allowed_cubes[:, :, cube][:, :, :, cube]  # [B, H, S, S]
    token_scores = (q @ k.transpose(-1, -2)) * scale
    fine = torch.softmax(token_scores.masked_fill(~allowed, float("-inf")), dim=-1) @ v
    out = fine + g * coarse[:, :, cube]
    return out.transpose(1, 2)


# --- diffusers integration -------------------------------------------------------------


class VSAState:
    """The cube layout of the current forward pass's patch grid, shared by every block's
    processor. A pre-hook on the transformer sets it; the processor cannot see the grid
    otherwise (it receives the flattened tokens only)."""

    def __init__(self, sparsity: float) -> None:
        self.sparsity = sparsity
        self.layout: CubeLayout | None = None


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Wan's rotary embedding, as diffusers' WanAttnProcessor applies it."""
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    cos, sin = cos[..., 0::2], sin[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x1 * cos - x2 * sin
    out[..., 1::2] = x1 * sin + x2 * cos
    return out.type_as(x)


class WanVSAProcessor:
    """A diffusers attention processor for a Wan block's self-attention (attn1) with VSA."""

    def __init__(self, state: VSAState) -> None:
        self.state = state

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        layout = self.state.layout
        if layout is None:
            raise RuntimeError("VSA: the transformer's grid hook did not run")
        if attn.fused_projections:
            query, key, value = attn.to_qkv(hidden_states).chunk(3, dim=-1)
        else:
            query, key, value = (
                attn.to_q(hidden_states),
                attn.to_k(hidden_states),
                attn.to_v(hidden_states),
            )
        gate = getattr(attn, GATE)(hidden_states)
        query, key = attn.norm_q(query), attn.norm_k(key)
        query, key, value, gate = (
            x.unflatten(2, (attn.heads, -1)) for x in (query, key, value, gate)
        )
        if rotary_emb is not None:
            query, key = _rotate(query, *rotary_emb), _rotate(key, *rotary_emb)
        out = video_sparse_attention(query, key, value, gate, layout, self.state.sparsity)
        out = out.flatten(2, 3).type_as(hidden_states)
        return attn.to_out[1](attn.to_out[0](out))  # type: ignore[no-any-return]


def read_gate_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The `to_gate_compress` weights from a transformer folder's safetensors, keyed as
    `blocks.N.attn1.to_gate_compress.{weight,bias}` whichever of the two spellings the
    checkpoint uses.

    diffusers drops these keys on load (its Wan transformer has no such layer), so they
    are read here directly; only these tensors are read, not the whole checkpoint.
    """
    from safetensors import safe_open

    index = folder / "diffusion_pytorch_model.safetensors.index.json"
    if index.is_file():
        weight_map: dict[str, str] = json.loads(index.read_text())["weight_map"]
        files: dict[str, list[str]] = {}
        for name, file in weight_map.items():
            if _GATE_KEY.match(name):
                files.setdefault(file, []).append(name)
    else:
        files = {path.name: [] for path in sorted(folder.glob("*.safetensors"))}
    gates: dict[str, torch.Tensor] = {}
    for file, names in files.items():
        with safe_open(str(folder / file), framework="pt") as handle:
            for name in names or [n for n in handle.keys() if _GATE_KEY.match(n)]:  # noqa: SIM118 - safe_open is not a dict
                block, part = _GATE_KEY.match(name).groups()  # type: ignore[union-attr]
                gates[f"blocks.{block}.attn1.{GATE}.{part}"] = handle.get_tensor(name)
    return gates


def attach_gates(transformer: Any, gates: dict[str, torch.Tensor], source: str) -> None:
    """Give each block's self-attention its `to_gate_compress` layer from `gates`.

    Every block needs both its weight and bias; a checkpoint missing any is refused by
    name, since running VSA without the trained gate is not the model as trained.
    """
    blocks = transformer.blocks
    missing = [
        f"blocks.{i}.attn1.{GATE}.{part}"
        for i in range(len(blocks))
        for part in ("weight", "bias")
        if f"blocks.{i}.attn1.{GATE}.{part}" not in gates
    ]
    if missing:
        raise ModelUnavailableError(
            f"{source}: this preset runs Video Sparse Attention, which needs the checkpoint's "
            f"trained gate ({GATE}) in every transformer block, and {len(missing)} of "
            f"{2 * len(blocks)} tensors are missing (first: {missing[0]}). Use the "
            f"checkpoint the preset names (a FastWan one), or a preset with dense attention."
        )
    for i, block in enumerate(blocks):
        attn = block.attn1
        weight = gates[f"blocks.{i}.attn1.{GATE}.weight"]
        layer = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=True)
        layer.load_state_dict({"weight": weight, "bias": gates[f"blocks.{i}.attn1.{GATE}.bias"]})
        setattr(attn, GATE, layer.to(device=attn.to_q.weight.device, dtype=attn.to_q.weight.dtype))


def enable_vsa(transformer: Any, sparsity: float) -> VSAState:
    """Switch every block's self-attention to VSA (its gates must be attached first)."""
    if not all(hasattr(block.attn1, GATE) for block in transformer.blocks):
        raise ModelUnavailableError(
            f"VSA needs the {GATE} layer in every block: call attach_gates first"
        )
    state = VSAState(sparsity)
    patch = transformer.config.patch_size

    def record_grid(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        latents = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
        _, _, frames, height, width = latents.shape
        grid = (frames // patch[0], height // patch[1], width // patch[2])
        # Here, outside the (regionally) compiled blocks; cached per grid and device.
        state.layout = cube_layout(grid, latents.device)

    transformer.register_forward_pre_hook(record_grid, with_kwargs=True)
    for block in transformer.blocks:
        block.attn1.set_processor(WanVSAProcessor(state))
    return state
