"""The robustness benchmark's plumbing: the tiny model's clips written once and read back
without the model, and the process pool giving the same kind of results as one process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from provenance.bench import watermark_robustness as bench


def _fake_tiny(
    size: tuple[int, int], frames: int, seed: int, tiny_dir: Path | None = None
) -> np.ndarray:
    """Stands in for the tiny model: a pan over a photo, different per seed."""
    return bench.animate(bench.sample_images()[seed % 3], seed, size, frames)


def test_written_tiny_clips_are_the_ones_a_run_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench, "tiny_model_clip", _fake_tiny)
    assert bench.write_tiny(videos=6, clean=41, seed=3, tiny_dir=tmp_path) == 4 + 3
    monkeypatch.undo()
    for index in range(4):
        size = bench.SIZES[index % 2]
        read = bench.marked_footage(index, 3, tmp_path)
        assert np.array_equal(read, _fake_tiny(size, bench.FRAMES, 3 + index))
    for i in (0, 20, 40):
        read = bench.clean_footage(i, 3 + 10_000, tmp_path)
        size = bench.CLEAN_SIZES[i % len(bench.CLEAN_SIZES)]
        assert np.array_equal(read, _fake_tiny(size, bench.CLEAN_FRAMES, 3 + 10_000 + i))
    with pytest.raises(FileNotFoundError):
        bench.marked_footage(0, 4, tmp_path)  # another seed: never silently other footage


def test_the_pool_marks_attacks_and_reads_every_clip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench, "tiny_model_clip", _fake_tiny)
    bench.write_tiny(videos=2, clean=2, seed=1, tiny_dir=tmp_path)
    monkeypatch.undo()
    raw = bench.run(2, 2, 1, ["0.75x"], (0, 1), jobs=2, tiny_dir=tmp_path)
    assert raw["rows"]["0.75x"]["found"] == [True, True]
    assert raw["false_matches"] == [False, False] and len(raw["psnr"]) == 2
    summary = bench.summarise([raw])
    assert summary["attacks"]["0.75x"]["found"] == 1.0 and summary["warned_videos"] == 0


def test_clips_the_stamp_warns_about_still_count_as_found_or_missed() -> None:
    row = {"found": [True, False, True], "wrong_payload": [False] * 3,
           "bit_confidence": [5.0, 0.9, 4.0], "sync": [9.0, 2.0, 8.0], "read_s": [0.5] * 3}  # fmt: skip
    raw = {"rows": {"h264 crf 28": row}, "psnr": [41.0] * 3, "ssim": [0.99] * 3,
           "embed_ms": [10.0] * 3, "strength": [9.0, 0.8, 12.0], "false_matches": [False],
           "clean_read_s": [0.3]}  # fmt: skip
    summary = bench.summarise([raw])
    assert summary["warned_videos"] == 1
    assert summary["attacks"]["h264 crf 28"]["found"] == 2 / 3
    assert summary["attacks"]["h264 crf 28"]["found_unwarned"] == 1.0


def test_tiny_clips_can_run_apart_and_together() -> None:
    """--tiny none on one machine and --tiny only on another make every clip once."""
    from provenance.bench.watermark_robustness import TINY_CLIPS, clip_indices

    every = clip_indices(40, 100, (0, 1))
    rest, only = clip_indices(40, 100, (0, 1), "none"), clip_indices(40, 100, (0, 1), "only")
    assert only[0] == list(range(TINY_CLIPS))
    assert only[1] == [0, 20, 40, 60, 80]
    for part in (0, 1):
        assert sorted(rest[part] + only[part]) == every[part]
        assert not set(rest[part]) & set(only[part])
    assert clip_indices(40, 100, (1, 2), "none")[0] == [i for i in rest[0] if i % 2]
