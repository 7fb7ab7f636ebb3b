"""The prompt latency benchmark: every case timed with and without the classifier."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from moderation.bench import prompt_latency


def test_latency_bench_times_each_case_and_writes_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "latency.json"
    monkeypatch.setattr(sys, "argv", ["prompt_latency", "--calls", "3", "--out", str(out)])
    prompt_latency.main()
    rows = json.loads(out.read_text())["rows"]
    cases = [*prompt_latency.CASES, "heldout5, each once"]
    assert [(r["case"], r["moderator"]) for r in rows] == [
        (case, name)
        for case in cases
        for name in ("rules + classifiers", "one threshold for all", "rules only")
    ]
    assert all(0 < r["median_ms"] <= r["p95_ms"] for r in rows)
    assert {r["words"] for r in rows if r["case"] == "80 words"} == {77}
    assert {r["words"] for r in rows if r["case"].startswith("120 words")} == {120}
    assert "heldout5, each once" in capsys.readouterr().out
