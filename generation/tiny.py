"""The embedded `tiny` and `tiny-ti2v` presets: real diffusers pipelines, built locally with
random weights.

`tiny` has the shapes of Wan2.1 text-to-video in miniature; `tiny-ti2v` those of Wan2.2
TI2V (the residual VAE with 16x spatial compression and 2x2 pixel patches, and the image
conditioning by the first latent frame through `WanImageToVideoPipeline` with
`expand_timesteps`). Same classes, same code path, same `from_pretrained` load as the real
models, so every stage of vidflow runs on a laptop CPU in seconds with nothing downloaded.
Their pixels are noise; their timings and control flow are the real ones.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

# Bump when the configs below change, so an old cached build is not reused.
TINY_VERSION = 2
SEED = 0


def _build_tokenizer():  # type: ignore[no-untyped-def]
    """A byte-level tokenizer made from nothing: any text maps to tokens, no vocab download."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>"]
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {token: i for i, token in enumerate(specials + sorted(alphabet))}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def build_tiny_pipeline(kind: str = "t2v"):  # type: ignore[no-untyped-def]
    """A tiny pipeline with seeded random weights (sizes as in diffusers' tests); `kind` is
    "t2v" (Wan2.1-shaped WanPipeline) or "ti2v" (Wan2.2-TI2V-shaped image-to-video)."""
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        WanImageToVideoPipeline,
        WanPipeline,
        WanTransformer3DModel,
    )
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(SEED)
    tokenizer = _build_tokenizer()
    text_encoder = UMT5EncoderModel(
        UMT5Config(
            vocab_size=len(tokenizer),
            d_model=32,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
        )
    )
    if kind == "ti2v":
        # Wan2.2's VAE in miniature: pixels in 2x2 patches (12 channels), residual blocks.
        z_dim = 8
        vae = AutoencoderKLWan(
            base_dim=8,
            z_dim=z_dim,
            dim_mult=[1, 1, 1, 1],
            num_res_blocks=1,
            temperal_downsample=[False, True, True],
            is_residual=True,
            in_channels=12,
            out_channels=12,
            patch_size=2,
            scale_factor_spatial=16,
            latents_mean=[0.0] * z_dim,
            latents_std=[1.0] * z_dim,
        )
    else:
        z_dim = 16
        vae = AutoencoderKLWan(
            base_dim=3,
            z_dim=z_dim,
            dim_mult=[1, 1, 1, 1],
            num_res_blocks=1,
            temperal_downsample=[False, True, True],
        )
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=z_dim,
        out_channels=z_dim,
        text_dim=32,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        # Wan2.1's own value: the rotary tables must cover the largest grid validation
        # accepts (1920 px / 16 = 120 patches a side, 241 frames = 61 latent frames).
        rope_max_seq_len=1024,
    )
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    if kind == "ti2v":
        return WanImageToVideoPipeline(
            tokenizer=tokenizer,
            text_encoder=text_encoder,
            vae=vae,
            scheduler=scheduler,
            transformer=transformer,
            expand_timesteps=True,
        )
    return WanPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        scheduler=scheduler,
        transformer=transformer,
    )


def ensure_tiny_model(cache_dir: Path, kind: str = "t2v") -> Path:
    """Build a tiny model once into the cache and return its folder.

    It is built in a temporary folder beside the target and renamed into place, so a crash
    or a concurrent build never leaves half a model where `from_pretrained` would find it.
    """
    name = "tiny" if kind == "t2v" else f"tiny-{kind}"
    target = cache_dir / "models" / f"{name}-v{TINY_VERSION}"
    if (target / "model_index.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("building the tiny model in %s", target)
    staging = Path(tempfile.mkdtemp(prefix=".tiny-", dir=target.parent))
    try:
        build_tiny_pipeline(kind).save_pretrained(staging)
        try:
            staging.rename(target)
        except OSError:
            if not (target / "model_index.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
