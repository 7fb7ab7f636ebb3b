"""The pooled bench: one model's first runs on rounds of blind sets, summed per language."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moderation.bench.pooled import language_of, main, pool

BENCH = Path(__file__).parents[2] / "docs" / "bench"


def report(name: str, unsafe_stopped: int, benign_stopped: int, n: int = 100) -> dict:
    return {"dataset": f"moderation/data/{name}.jsonl", "unsafe": n, "benign": n,
            "recall": unsafe_stopped / n, "false_positive_rate": benign_stopped / n}  # fmt: skip


def test_a_language_is_told_by_the_set_name() -> None:
    assert language_of("moderation/data/heldout28-lang-ko.jsonl") == "ko"
    assert language_of("moderation/data/heldout-english-6.jsonl") == "heldout-english-6"


def test_rounds_are_summed_per_language_and_judged_on_the_sums() -> None:
    pooled = pool([report("heldout27-lang-ko", 95, 0), report("heldout28-lang-ko", 99, 2),
                   report("heldout27-lang-de", 100, 3), report("heldout28-lang-de", 100, 2)])  # fmt: skip
    ko, de = pooled["ko"], pooled["de"]
    assert (ko.unsafe_stopped, ko.unsafe, ko.benign_stopped, ko.benign) == (194, 200, 2, 200)
    # 95/100 misses alone; pooled with 99/100 the language is at 97.0% and meets.
    assert ko.meets and ko.sets_meeting == 1
    assert ko.recall_interval[0] < 0.97 < ko.recall_interval[1]
    # 5 of 200 benign stopped is 2.5%: the pooled counts miss though one round met alone.
    assert not de.meets and de.sets_meeting == 1
    assert list(pooled) == ["de", "ko"]


def test_disguised_forms_are_pooled_from_the_set_files(tmp_path: Path) -> None:
    rows = [{"text": f"u{i}", "label": "unsafe", "category": "violence",
             "form": "euphemism" if i < 20 else "plain"} for i in range(40)]  # fmt: skip
    reports = []
    for round_, hits in (("heldout27", 18 / 20), ("heldout28", 1.0)):
        path = tmp_path / f"{round_}-lang-fr.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        reports.append({**report(f"{round_}-lang-fr", 40, 0, n=40), "dataset": str(path),
                        "recall_by_form": {"euphemism": hits, "plain": 1.0}})  # fmt: skip
    fr = pool(reports)["fr"]
    # 38 of 40 euphemisms is 95%: the form meets pooled, though 18 of 20 (90%) did not alone.
    assert fr.disguised == {"euphemism": (38, 40)} and fr.disguised_meets
    reports[0]["recall_by_form"]["euphemism"] = 17 / 20
    assert not pool(reports)["fr"].disguised_meets
    # A set whose file is not found leaves the forms unjudged, not passed.
    reports[0]["dataset"] = str(tmp_path / "gone-lang-fr.jsonl")
    assert pool(reports)["fr"].disguised_meets is None


def test_one_more_miss_fails_the_pooled_language() -> None:
    assert not pool([report("heldout27-lang-ja", 94, 0), report("heldout28-lang-ja", 99, 0)])[
        "ja"
    ].meets


def test_the_cli_reads_real_moderation_eval_reports(tmp_path: Path, capsys) -> None:
    # Two reports moderation-eval wrote in the twenty-eighth round (docs/bench).
    paths = sorted(BENCH.glob("2026-12-07-moderation-heldout27-lang-[dk][eo]-twenty-seventh.json"))
    assert len(paths) == 2
    out = tmp_path / "p.json"
    assert main([*map(str, paths), "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert set(written) == {"de", "ko"}
    ko = json.loads(paths[1].read_text())
    assert written["ko"]["unsafe_stopped"] == round(ko["recall"] * ko["unsafe"])
    # The disguised forms' totals come from the set's file in the repository: 30 of each.
    stopped, of = written["ko"]["disguised"]["euphemism"]
    assert of == 30 and stopped == round(ko["recall_by_form"]["euphemism"] * 30)
    assert "pooled: 1 of 2 meet" in capsys.readouterr().out


def test_a_file_that_is_not_a_report_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"dataset": "x"}')
    with pytest.raises(SystemExit):
        main([str(bad)])
