from __future__ import annotations

import json
from pathlib import Path

import pytest

from moderation.bench import language_told


def test_prompts_are_counted_by_the_language_they_are_told(tmp_path: Path) -> None:
    rows = [
        {"text": "une promenade tranquille au bord de la mer avec les enfants",
         "label": "benign", "lang": "fr"},
        {"text": "ein ruhiger Spaziergang am Meer mit den Kindern", "label": "benign",
         "lang": "fr"},  # labelled French, written in German
        {"text": "a quiet walk by the sea with the children", "label": "benign"},
    ]  # fmt: skip
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "categories:\n  violence: {action: block}\n"
        "text_model: {language_thresholds: {fr: 0.5, de: 0.5}}\n"
    )
    out = tmp_path / "told.json"
    assert language_told.main([str(path), "--policy", str(policy), "--out", str(out)]) == 0
    told = json.loads(out.read_text())["told"]
    assert told == {"en": {"en": 1}, "fr": {"fr": 1, "de": 1}}


def test_a_policy_without_language_thresholds_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps({"text": "a walk", "label": "benign"}) + "\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text("categories:\n  violence: {action: block}\ntext_model: {threshold: 0.6}\n")
    with pytest.raises(SystemExit):
        language_told.main([str(path), "--policy", str(policy)])
    assert "no language a threshold of its own" in capsys.readouterr().err
