"""The runner's memory savers, checked on the CPU with the tiny model's real modules."""

from __future__ import annotations

import torch

from generation.runner import ParkedWeights, keep_embeddings_on_host
from generation.tiny import build_tiny_pipeline


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
