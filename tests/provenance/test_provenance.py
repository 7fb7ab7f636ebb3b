"""Stamper: one call puts watermark, label and a signed manifest on a browser-playable mp4."""

# Fixtures are imported from provenance_fixtures and named again as test arguments.
# ruff: noqa: F811

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from provenance_fixtures import clip, make_job, settings, stamped  # noqa: F401

from provenance import stamp as stamp_module
from provenance.label import LabelStyle, draw_label, placement
from provenance.stamp import ProvenanceReport, Stamper
from provenance.verify import verify_file
from provenance.watermark import METHOD, PAYLOAD_BITS, WEAK_MARK_Z, embed_video, payload_id
from vidflow.settings import Settings


def test_report_names_what_was_stamped(stamped: tuple[Path, ProvenanceReport]) -> None:
    path, report = stamped
    assert report.watermark.method == METHOD and report.watermark.bits == PAYLOAD_BITS
    assert report.watermark.payload == make_job().content_hash[:8]
    assert report.label == "AI-generated"
    assert report.c2pa.signed and report.c2pa.claim_generator == "vidflow"
    assert set(report.timings) == {"watermark_s", "label_s", "encode_s", "sign_s"}
    assert all(seconds >= 0 for seconds in report.timings.values())
    assert not list(path.parent.glob(".*"))  # no temporary files left behind


def test_a_well_marked_video_carries_no_warning(stamped: tuple[Path, ProvenanceReport]) -> None:
    _, report = stamped
    assert report.watermark.strength >= WEAK_MARK_Z and report.watermark.warning is None


def test_footage_that_takes_almost_no_mark_is_stamped_with_a_warning(tmp_path: Path) -> None:
    """Near-black frames with sparse 1-pixel dots (like lavfi's life): SSIM leaves almost no
    room for a mark there, and the stamp must say so instead of publishing it silently."""
    rng = np.random.default_rng(5)
    frames = np.zeros((9, 256, 256, 3), np.uint8)
    frames[rng.random((9, 256, 256)) < 0.04] = (224, 192, 128)
    settings = Settings(cache_dir=tmp_path / "cache", label_enabled=False)
    report = Stamper(settings).stamp(frames, 16, tmp_path / "dark.mp4", make_job())
    assert report.watermark.strength < WEAK_MARK_Z
    assert report.watermark.warning is not None and "weak" in report.watermark.warning


def test_output_is_browser_playable_h264(stamped: tuple[Path, ProvenanceReport]) -> None:
    path, _ = stamped
    probe = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
        capture_output=True,
        text=True,
        check=False,  # ffmpeg with no output file exits 1 after printing the streams
    ).stderr
    assert "Video: h264" in probe and "yuv420p" in probe and "256x256" in probe
    data = path.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # playback starts before the download ends


def test_label_can_be_turned_off(clip: np.ndarray, tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "cache", label_enabled=False)
    report = Stamper(settings).stamp(clip[:9], 16, tmp_path / "plain.mp4", make_job())
    assert report.label is None
    result = verify_file(tmp_path / "plain.mp4")
    assert result.status == "marked" and not result.label_present


def test_label_style_places_the_label_and_verify_finds_it_there(
    clip: np.ndarray, tmp_path: Path
) -> None:
    settings = Settings(cache_dir=tmp_path / "cache", label_text="Made by AI")
    stamper = Stamper(settings, LabelStyle(corner="top-left", height_share=0.1))
    report = stamper.stamp(clip[:9], 16, tmp_path / "top.mp4", make_job())
    assert report.label == "Made by AI"
    result = verify_file(tmp_path / "top.mp4", LabelStyle(text="Made by AI"))
    assert result.label_present and result.label_corner == "top-left"


def test_a_failed_signing_leaves_the_previous_video_and_no_partial_file(
    clip: np.ndarray, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"the video published before")
    stamper = Stamper(settings)

    def crash(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(stamper.signer, "sign", crash)
    with pytest.raises(OSError, match="disk full"):
        stamper.stamp(clip[:9], 16, out, make_job())
    assert out.read_bytes() == b"the video published before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_the_invisible_mark_is_drawn_over_the_label(
    clip: np.ndarray, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[np.ndarray] = []
    real_encode = stamp_module.encode_h264

    def keep(frames: np.ndarray, fps: int, path: Path, threads: int | None = None) -> None:
        encoded.append(frames)
        real_encode(frames, fps, path, threads)

    monkeypatch.setattr(stamp_module, "encode_h264", keep)
    stamper = Stamper(settings)
    assert stamper.label is not None
    stamper.stamp(clip[:9], 16, tmp_path / "clip.mp4", make_job())
    labelled = draw_label(clip[:9], stamper.label)
    assert np.array_equal(encoded[0], embed_video(labelled, payload_id(make_job().content_hash)))
    top, left, _, alpha = placement(stamper.label, clip.shape[2], clip.shape[1])
    under = (slice(None), slice(top, top + alpha.shape[0]), slice(left, left + alpha.shape[1]))
    assert not np.array_equal(encoded[0][under], labelled[under])  # the mark is there too


def test_stamping_keeps_opencv_the_watermark_and_ffmpeg_to_the_cpu_budget(
    clip: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cv2

    ffmpeg_commands: list[list[str]] = []
    watermark_workers: list[int | None] = []
    real_popen, real_embed = subprocess.Popen, stamp_module.embed_video

    def popen(command: list[str], *args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        ffmpeg_commands.append(list(command))
        return real_popen(command, *args, **kwargs)  # type: ignore[call-overload,no-any-return]

    def embed(frames: np.ndarray, identifier: str, workers: int | None = None) -> np.ndarray:
        watermark_workers.append(workers)
        return real_embed(frames, identifier, workers)

    monkeypatch.setattr(imageio_ffmpeg._io.subprocess, "Popen", popen)
    monkeypatch.setattr(stamp_module, "embed_video", embed)
    before = cv2.getNumThreads()
    try:
        # 3: not this machine's core count, so only the setting can have made it.
        stamper = Stamper(Settings(cache_dir=tmp_path / "cache", cpu_threads=3))
        stamper.stamp(clip[:9], 16, tmp_path / "clip.mp4", make_job())
        assert cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(before)
    assert watermark_workers == [3]
    (command,) = [c for c in ffmpeg_commands if "libx264" in c]
    assert command[command.index("-threads") + 1] == "3"
    assert command[command.index("-filter_threads") + 1] == "3"
