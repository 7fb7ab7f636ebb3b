from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from moderation.bench import combiner_columns
from moderation.train import load_sets


def _sets(tmp_path: Path) -> list[Path]:
    """Ten sets whose unsafe prompts are spelled out and whose benign ones are not."""
    paths = []
    for i in range(10):
        rows = [
            {"text": f"z o r b l a x number {i}", "label": "unsafe", "category": "violence"},
            {"text": f"q u i b b l e scene {i}", "label": "unsafe", "category": "violence"},
            {"text": f"a calm meadow number {i}", "label": "benign"},
            {"text": f"a quiet harbour scene {i}", "label": "benign"},
        ]  # fmt: skip
        path = tmp_path / f"set{i}.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        paths.append(path)
    return paths


def test_the_hidden_word_columns_are_compared_out_of_fold(tmp_path: Path) -> None:
    paths = _sets(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text("categories:\n  violence: {action: block}\ntext_model: {threshold: 0.5}\n")
    # The prompts as training reads them (with their style-tagged and how-to copies), and
    # models that cannot tell them apart: only whether a word was spelled out can.
    examples = [e for _, held in load_sets(paths) for e in held]
    unsafe = sum(e.label == "unsafe" for e in examples)
    report = combiner_columns.compare(paths, np.full((len(examples), 1), 0.5), policy)
    without, with_ = report["without"]["all"], report["with"]["all"]
    assert (with_.unsafe, with_.benign) == (unsafe, len(examples) - unsafe)
    assert (with_.unsafe_stopped, with_.benign_stopped) == (unsafe, 0)
    # Without the columns, only profanity and rule hits are left, which cannot.
    assert (without.unsafe_stopped, without.benign_stopped) != (unsafe, 0)


def test_scores_for_other_sets_are_refused(tmp_path: Path) -> None:
    paths = _sets(tmp_path)
    prompts = sum(len(held) for _, held in load_sets(paths))
    with pytest.raises(ValueError, match=f"39 scores for {prompts} prompts"):
        combiner_columns.compare(paths, np.full((39, 1), 0.5))


def test_the_command_names_the_scores_file_that_does_not_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _sets(tmp_path)
    oof = tmp_path / "other.npy"
    np.save(oof, np.full((3, 1), 0.5))
    with pytest.raises(SystemExit):
        combiner_columns.main([str(oof), *map(str, paths)])
    assert f"{oof}: 3 scores for" in capsys.readouterr().err
