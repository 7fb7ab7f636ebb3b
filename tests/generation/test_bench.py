"""The GPU benchmark's `videos` part, run in its --smoke form (tiny model, CPU), so the one
call it gets on a GPU machine is not spent finding a typo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generation.bench.bench_wan import main


@pytest.mark.slow
def test_videos_smoke_runs_every_mode_in_its_own_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "videos.json"
    modes = "default,exact,fast,fast-dense,decode,exact-taylorseer"
    main(["videos", "--smoke", "--modes", modes, "--out", str(out)])
    result = json.loads(out.read_text())
    rows = {row["mode"]: row for row in result["modes"]}
    assert set(rows) == set(modes.split(","))
    assert not [row["error"] for row in rows.values() if "error" in row]
    for mode in ("default", "exact", "fast", "fast-dense", "exact-taylorseer"):
        t = rows[mode]["timings"]
        assert t["total_s"] >= t["encode_s"] + t["denoise_s"] > 0 and t["decode_s"] > 0
    assert rows["fast"]["attention"] == "vsa 0.8" and rows["fast-dense"]["attention"] != "vsa 0.8"
    assert rows["exact"]["cfg"] and not rows["fast"]["cfg"] and not rows["default"]["compile"]
    assert rows["fast"]["frames_shape"] == [9, 64, 96, 3]
    assert (
        rows["exact-taylorseer"]["step_cache"] == "taylorseer" and not rows["exact"]["step_cache"]
    )
    assert {d["vae"] for d in rows["decode"]["decode"]} == {"float32", "bfloat16"}
    table = capsys.readouterr().out.split("whole videos", 1)[1]
    assert "SMOKE" in table and "vsa 0.8" in table and "hand-off to the host" in table
