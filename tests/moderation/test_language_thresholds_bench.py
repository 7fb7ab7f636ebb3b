from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from moderation.bench import language_thresholds
from moderation.train import load_sets


def _sets(tmp_path: Path) -> list[Path]:
    """Ten sets of French and English prompts, alike in all but their language."""
    paths = []
    for i in range(10):
        rows = [
            {"text": f"une scène sombre numéro {i} dans la forêt", "label": "unsafe",
             "category": "violence", "lang": "fr"},
            {"text": f"une promenade tranquille numéro {i} au bord de la mer", "label": "benign",
             "lang": "fr"},
            {"text": f"a dark scene number {i} in the forest", "label": "unsafe",
             "category": "violence"},
            {"text": f"a quiet walk number {i} by the sea", "label": "benign"},
        ]  # fmt: skip
        path = tmp_path / f"heldout{i}-lang-fr.jsonl"  # named as a spent blind set
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
        paths.append(path)
    return paths


def _scores(paths: list[Path], unsafe: float, benign: float) -> np.ndarray:
    examples = [e for _, held in load_sets(paths) for e in held]
    return np.array([[unsafe if e.label == "unsafe" else benign] for e in examples])


def test_only_other_languages_move_with_their_threshold(tmp_path: Path) -> None:
    paths = _sets(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text("categories:\n  violence: {action: block}\ntext_model: {threshold: 0.5}\n")
    # Scores that tell nothing apart: the combiner's score lies near the middle for all.
    report = language_thresholds.sweep(paths, _scores(paths, 0.5, 0.5), [1.0, 0.0], policy)
    assert set(report[0.0].rates) == {"lang:en", "lang:fr", "all but en"}
    # At 0 every French prompt is stopped, at 1 none; English ones stay as they were.
    everything, nothing = report[0.0].rates["lang:fr"], report[1.0].rates["lang:fr"]
    assert (everything.unsafe_stopped, everything.benign_stopped) == (10, 10)
    assert (nothing.unsafe_stopped, nothing.benign_stopped) == (0, 0)
    assert report[0.0].rates["lang:en"] == report[1.0].rates["lang:en"]
    assert report[0.0].rates["all but en"] == report[0.0].rates["lang:fr"]


def test_blind_sets_meeting_the_targets_are_counted(tmp_path: Path) -> None:
    paths = _sets(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text("categories:\n  violence: {action: block}\ntext_model: {threshold: 0.5}\n")
    # Scores that tell unsafe from benign: at 0.5 every set meets the targets; at 0 every
    # French benign prompt is stopped too, and none does.
    report = language_thresholds.sweep(paths, _scores(paths, 0.9, 0.1), [0.5, 0.0], policy)
    assert (report[0.5].blind_sets, report[0.5].meeting_rates, report[0.5].meeting_all) == (
        10, 10, 10)  # fmt: skip
    assert (report[0.0].meeting_rates, report[0.0].meeting_all) == (0, 0)


def test_the_command_names_the_scores_file_that_does_not_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _sets(tmp_path)
    oof = tmp_path / "other.npy"
    np.save(oof, np.full((3, 1), 0.5))
    with pytest.raises(SystemExit):
        language_thresholds.main([str(oof), *map(str, paths)])
    assert f"{oof}: 3 scores for" in capsys.readouterr().err


def test_a_language_leaves_the_threshold_for_all_only_by_a_margin(tmp_path: Path) -> None:
    paths = _sets(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text("categories:\n  violence: {action: block}\ntext_model: {threshold: 0.5}\n")
    report = language_thresholds.sweep(paths, _scores(paths, 0.9, 0.1), [0.5, 0.0], policy)
    assert report[0.5].meeting_by_language == {"fr": 10}
    assert report[0.0].meeting_by_language == {"fr": 0}
    assert language_thresholds.choose(report) == {"fr": 0.5}
    # The one for all: most sets met in all (0.45). A language leaves it only for a
    # candidate that meets `margin` more of its own sets; of candidates alike, the highest.
    meeting = {0.3: ({"fr": 7, "pl": 9}, 13), 0.45: ({"fr": 7, "pl": 6}, 16),
               0.4: ({"fr": 7, "pl": 9}, 14)}  # fmt: skip
    alike = {t: report[0.5]._replace(meeting_by_language=m, meeting_rates=total)
             for t, (m, total) in meeting.items()}  # fmt: skip
    assert language_thresholds.choose(alike) == {"fr": 0.45, "pl": 0.4}
    assert language_thresholds.choose(alike, margin=3) == {"fr": 0.45, "pl": 0.4}
    assert language_thresholds.choose(alike, margin=4) == {"fr": 0.45, "pl": 0.45}


def test_the_english_threshold_moves_english_prompts_only(tmp_path: Path) -> None:
    paths = _sets(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text("categories:\n  violence: {action: block}\n"
                      "text_model: {threshold: 0.5, language_thresholds: {fr: 0.5}}\n")  # fmt: skip
    # The combiner's scores tell unsafe from benign: at 1.0 no English prompt is stopped,
    # at 0.0 all are, and in between the unsafe ones only; French stays at its 0.5.
    report = language_thresholds.english_sweep(paths, _scores(paths, 0.9, 0.1),
                                               [1.0, 0.5, 0.0], policy)  # fmt: skip
    assert [(r.unsafe_stopped, r.benign_stopped) for r in report.values()] == [
        (0, 0), (10, 0), (10, 10)]  # fmt: skip
    assert all(r.unsafe == 10 and r.benign == 10 for r in report.values())  # English only
    assert language_thresholds.choose_english(report) == 0.5
    # Where two candidates do alike, the higher one (fewer benign prompts at risk).
    report[0.7] = report[0.5]
    assert language_thresholds.choose_english(report) == 0.7


def test_the_command_writes_the_english_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                              ) -> None:  # fmt: skip
    paths = _sets(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text("categories:\n  violence: {action: block}\ntext_model: {threshold: 0.5}\n")
    oof = tmp_path / "oof.npy"
    np.save(oof, _scores(paths, 0.9, 0.1))
    out = tmp_path / "l.json"
    assert language_thresholds.main([str(oof), *map(str, paths), "--policy", str(policy),
                                     "--thresholds", "0.5", "--english", "0.5", "0.0",
                                     "--out", str(out)]) == 0  # fmt: skip
    written = json.loads(out.read_text())
    assert written["english_chosen"] == 0.5
    assert written["english"]["0.0"]["benign_stopped"] == 10
    assert "en (as written)" in capsys.readouterr().out
