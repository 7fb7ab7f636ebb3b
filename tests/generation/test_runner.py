"""The runner's memory savers, checked on the CPU with the tiny model's real modules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from generation.runner import ParkedWeights, keep_embeddings_on_host
from generation.tiny import build_tiny_pipeline
from vidflow.spec import StepCache


def test_host_embedding_gives_the_same_encoding_without_a_parameter() -> None:
    encoder = build_tiny_pipeline().text_encoder.eval()
    ids = torch.randint(0, encoder.config.vocab_size, (2, 16))
    with torch.inference_mode():
        before = encoder(ids).last_hidden_state
        keep_embeddings_on_host(encoder)
        after = encoder(ids).last_hidden_state
    assert torch.equal(before, after)
    # Group offloading and .to() move parameters: the table must not be one of them.
    names = [name for name, _ in encoder.named_parameters()]
    assert not any("shared" in name or "embed_tokens" in name for name in names)
    assert encoder.encoder.embed_tokens is encoder.get_input_embeddings()


def test_parked_weights_drop_their_storage_and_come_back_equal() -> None:
    transformer = build_tiny_pipeline().transformer.eval()
    latents = torch.randn(1, 16, 2, 8, 8)
    text = torch.randn(1, 8, transformer.config.text_dim)
    timestep = torch.tensor([500.0])
    with torch.inference_mode():
        before = transformer(latents, timestep, text, return_dict=False)[0]
    storages = [p.data_ptr() for p in transformer.parameters()]
    parking = ParkedWeights(transformer)
    parking.park()
    assert parking.parked
    assert all(p.data_ptr() != s for p, s in zip(transformer.parameters(), storages, strict=True))
    parking.restore()
    parking.restore()  # twice is harmless
    with torch.inference_mode():
        after = transformer(latents, timestep, text, return_dict=False)[0]
    assert not parking.parked and torch.equal(before, after)


def _job(preset: str, source: str = "j.yaml", **fields: object):  # type: ignore[no-untyped-def]
    from generation.presets import resolve_job
    from vidflow.spec import JobSpec

    spec = JobSpec.model_validate({"id": "j", "prompt": "a boat", **fields})
    return resolve_job(spec, source, preset)


def _runner(preset: str, job, cache: Path):  # type: ignore[no-untyped-def]
    from generation.planner import make_plan
    from generation.presets import get_preset
    from generation.probe import Probe
    from generation.runner import PipelineRunner

    return PipelineRunner.load(
        get_preset(preset), make_plan(get_preset(preset), job, Probe()), cache
    )


def test_tiny_preset_makes_832x480_which_validation_accepts(session_cache: Path) -> None:
    job = _job("tiny", width=832, height=480, num_frames=1, steps=1)
    frames, _ = _runner("tiny", job, session_cache).generate(job)
    assert frames.shape == (1, 480, 832, 3) and frames.dtype == np.uint8


def test_image_to_video_takes_the_job_image(tmp_path: Path, session_cache: Path) -> None:
    from PIL import Image
    from skimage import data

    Image.fromarray(data.astronaut()).save(tmp_path / "astronaut.png")
    Image.fromarray(data.coffee()).save(tmp_path / "coffee.png")
    source = str(tmp_path / "j.yaml")
    job = _job("tiny-ti2v", source, image="astronaut.png", width=96, height=64, num_frames=5,
               steps=2)  # fmt: skip
    runner = _runner("tiny-ti2v", job, session_cache)
    assert type(runner.pipe).__name__ == "WanImageToVideoPipeline"
    assert runner.pipe.config.expand_timesteps
    steps: list[tuple[int, int]] = []
    first, _ = runner.generate(job, on_step=lambda i, n: steps.append((i, n)))
    again, _ = runner.generate(job)
    other, _ = runner.generate(job.model_copy(update={"image": str(tmp_path / "coffee.png")}))
    assert first.shape == (5, 64, 96, 3) and steps == [(1, 2), (2, 2)]
    assert np.array_equal(first, again)  # deterministic, so the difference is the image's
    assert not np.array_equal(first, other)


def test_ti2v_sizes_follow_the_preset_multiple(tmp_path: Path) -> None:
    from vidflow.errors import SpecError

    (tmp_path / "i.png").write_bytes(b"png")
    with pytest.raises(SpecError, match="field 'width'.*multiples of 32 px, got 80"):
        _job("tiny-ti2v", str(tmp_path / "j.yaml"), image="i.png", width=80)


def test_fit_image_crops_to_the_frame_aspect_then_resizes(tmp_path: Path) -> None:
    from PIL import Image

    from generation.runner import fit_image

    wide = np.zeros((100, 300, 3), np.uint8)
    wide[:, 100:200] = 255  # a white centre third
    Image.fromarray(wide).save(tmp_path / "wide.png")
    fitted = np.asarray(fit_image(str(tmp_path / "wide.png"), 64, 64))
    assert fitted.shape == (64, 64, 3)
    assert fitted[:, 8:56].min() > 200  # the square centre crop is the white third


def test_uint8_on_the_device_matches_the_host_conversion() -> None:
    from generation.runner import to_uint8_frames

    video = torch.rand(3, 3, 8, 10)
    video[0, 0, 0, :4] = torch.tensor([0.5 / 255, 1.5 / 255, 254.5 / 255, 1.2])  # ties, >1
    host = np.clip(np.rint(video.permute(0, 2, 3, 1).numpy() * 255.0), 0, 255).astype(np.uint8)
    assert np.array_equal(to_uint8_frames(video), host)


def test_step_cache_skips_transformer_blocks_and_is_removed_after_the_job(
    session_cache: Path,
) -> None:
    job = _job("tiny", width=64, height=64, num_frames=5, steps=6, guidance_scale=1.0)
    runner = _runner("tiny", job, session_cache)
    transformer = runner.pipe.transformer
    # A block's feed-forward and its self-attention's query projection run only when the
    # block (or the attention) is computed, not when a cache hook returns a stored output.
    ffn_calls, attention_calls = [], []
    for block in transformer.blocks:
        block.ffn.register_forward_hook(lambda *_: ffn_calls.append(1))
        block.attn1.to_q.register_forward_hook(lambda *_: attention_calls.append(1))

    def blocks_run(j) -> tuple[int, np.ndarray]:  # type: ignore[no-untyped-def]
        ffn_calls.clear()
        attention_calls.clear()
        frames, _ = runner.generate(j)
        return len(ffn_calls), frames

    plain_count, plain = blocks_run(job)
    assert plain_count == 6 * len(transformer.blocks)
    # A threshold of 1 reuses the rest of the blocks whenever the first block's output
    # moved by less than 100%: on this model that is every step after the first.
    cached = job.model_copy(update={"step_cache": StepCache(method="first-block", threshold=1.0)})
    fbc_count, fbc = blocks_run(cached)
    assert fbc_count < plain_count and not np.array_equal(fbc, plain)
    taylor = job.model_copy(update={"step_cache": StepCache(method="taylorseer", interval=2)})
    _, forecast = blocks_run(taylor)
    # Steps 1-3 computed to fit the series, then every other step forecast: 4 of 6 computed.
    assert len(attention_calls) == 4 * len(transformer.blocks)
    assert not np.array_equal(forecast, plain)
    assert not transformer.is_cache_enabled
    again_count, again = blocks_run(job)
    assert again_count == plain_count and np.array_equal(again, plain)


def test_the_hubs_ti2v_layout_loads_as_image_to_video(tmp_path: Path) -> None:
    """Wan2.2-TI2V-5B-Diffusers names WanPipeline in its model_index.json and has no image
    encoder; the runner's image-to-video class must still load it, image path and all."""
    import json

    from diffusers import WanImageToVideoPipeline

    build_tiny_pipeline("ti2v").save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    index = {k: v for k, v in index.items() if k not in ("image_encoder", "image_processor")}
    (tmp_path / "model_index.json").write_text(json.dumps(index | {"_class_name": "WanPipeline"}))
    pipe = WanImageToVideoPipeline.from_pretrained(tmp_path, expand_timesteps=True)
    assert pipe.config.expand_timesteps and pipe.image_encoder is None
