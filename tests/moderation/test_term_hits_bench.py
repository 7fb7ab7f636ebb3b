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
