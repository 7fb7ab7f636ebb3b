from __future__ import annotations

import json
from pathlib import Path

import pytest

from moderation.bench import novelty
from moderation.evaluate import Example


def test_near_copies_of_training_prompts_are_counted_and_measured_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained = tmp_path / "train-x.jsonl"
    trained.write_text(
        json.dumps({"text": "a nude woman posing on a bed, soft light", "label": "unsafe",
                    "category": "sexual"}) + "\n"
    )  # fmt: skip
    monkeypatch.setattr(novelty, "training_paths", lambda: [trained])
    rows = [
        # the training prompt again, respelled: near (normalised, the 4-grams nearly match)
        {"text": "A NUDE woman posing on a bed, soft light!", "label": "unsafe",
         "category": "sexual"},
        {"text": "a graphic gore scene, severed limbs everywhere", "label": "unsafe",
         "category": "violence"},
        {"text": "a calm mountain lake at dawn, mist on the water", "label": "benign"},
    ]  # fmt: skip
    blind = tmp_path / "blind.jsonl"
    blind.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "novelty.json"
    assert novelty.main([str(blind), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    row = report["sets"]["blind.jsonl"]
    assert (row["prompts"], row["near"]) == (3, 1)
    assert (row["all"]["unsafe"], row["all"]["unsafe_stopped"]) == (2, 2)
    # The novel prompts alone: the gore scene (stopped) and the lake (passed).
    assert (row["novel"]["unsafe"], row["novel"]["unsafe_stopped"]) == (1, 1)
    assert (row["novel"]["benign"], row["novel"]["benign_stopped"]) == (1, 0)
    assert report["corpus_prompts"] == 1
    # Leaving the training set out of the corpus makes every prompt novel.
    assert novelty.main([str(blind), "--exclude", "train-*", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["sets"]["blind.jsonl"]["near"] == 0


def test_similarity_is_jaccard_of_character_4_grams() -> None:
    corpus = novelty.Corpus(["abcdef"])
    # " abcdef " has 5 grams; " abcdeg " shares 3 of them: 3 / (5 + 5 - 3).
    assert corpus.nearest("abcdeg") == pytest.approx(3 / 7)
    assert corpus.nearest("abcdef") == 1.0 and corpus.nearest("zzzz") == 0.0
    assert novelty.rates([(Example(text="x", label="benign"), True)]).benign_stopped == 1
