from __future__ import annotations

import json
from pathlib import Path

from moderation.bench import term_hits


def test_term_hits_counts_each_category_by_label_and_writes_json(tmp_path: Path) -> None:
    rows = [
        {"text": "a graphic gore scene, severed limbs", "label": "unsafe", "category": "violence"},
        {"text": "wschód słońca nad jeziorem, góry w tle", "label": "benign"},
        {"text": "lakier do paznokci w kolorze nude", "label": "benign"},
        {"text": "a nude woman posing on a bed", "label": "unsafe", "category": "sexual"},
        {"text": "museum of torture devices behind glass", "label": "benign"},
    ]
    data = tmp_path / "set.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    out = tmp_path / "hits.json"
    assert term_hits.main([str(data), "--out", str(out), "--category", "violence"]) == 0
    report = json.loads(out.read_text())
    fires = report["fires_on"]
    # Polish mountains and a nail colour fire nothing; the museum's "torture" does.
    assert fires["violence"] == {"unsafe": 1, "benign": 1}
    assert fires["sexual"] == {"unsafe": 1, "benign": 0}
    assert report["stopped"] == {"unsafe": 2, "benign": 1}
    assert report["prompts"] == {"unsafe": 2, "benign": 3}


def test_with_model_counts_the_term_hits_the_whole_moderator_lets_through(tmp_path: Path) -> None:
    rows = [
        {"text": "a graphic gore scene, severed limbs", "label": "unsafe", "category": "violence"},
        {"text": "museum of torture devices behind glass", "label": "benign"},
        {"text": "a sunny beach with kids building sandcastles", "label": "benign"},
    ]
    data = tmp_path / "set.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "hits.json"
    assert term_hits.main([str(data), "--with-model", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    # Both violence hits fire; the learned model stops the gore and lets the museum through,
    # which is what a violence term that always blocked would cost.
    assert report["fires_on"]["violence"] == {"unsafe": 1, "benign": 1}
    assert report["let_through_with_model"] == {"violence": {"unsafe": 0, "benign": 1}}
    without = tmp_path / "rules.json"
    assert term_hits.main([str(data), "--out", str(without)]) == 0
    assert "let_through_with_model" not in json.loads(without.read_text())
