"""The gallery and the run summary, checked in a real headless Chromium where it exists."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from flows.reporting import append_github_summary, markdown_summary
from provenance.stamp import encode_h264
from vidflow.gallery import write_gallery
from vidflow.manifest import Manifest, RunReport

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOSTILE = '<script>alert("x")</script> a cat & a dog'


def manifest(job_id: str, status: str, video: str | None = None, **extra: object) -> Manifest:
    return Manifest.model_validate(
        {
            "job_id": job_id,
            "source": f"prompts/{job_id}.yaml",
            "job_hash": f"{job_id:0<64}"[:64],
            "status": status,
            "job": {"prompt": HOSTILE, "preset": "tiny", "width": 64, "height": 64,
                    "num_frames": 9},
            "video": video,
            **extra,
        }
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, list[Manifest]]:
    root = tmp_path / "store"
    (root / "published").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("one", "two"):
        frames = rng.integers(0, 255, (9, 64, 64, 3), dtype=np.uint8)
        encode_h264(frames, 8, root / "published" / f"{name}.mp4")
    manifests = [
        manifest("one", "published", "published/one.mp4", safety={"scores": {"nudity": 0.01}}),
        manifest("two", "published", "published/two.mp4",
                 provenance={"watermark": {"payload": "c3cc639c"}, "label": "AI-generated",
                             "c2pa": {"signed": True, "development_certificate": True}}),
        manifest("flagged", "quarantined", "quarantine/flagged.mp4",
                 safety={"flagged_categories": ["nudity"], "scores": {"nudity": 0.9}}),
        manifest("bad", "blocked", verdict={"action": "block", "category": "violence",
                                            "rule": "term:gore"}),
    ]  # fmt: skip
    return root, manifests


def test_gallery_escapes_prompts_and_withholds_media(store: tuple[Path, list[Manifest]]) -> None:
    root, manifests = store
    page = write_gallery(manifests, root).read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.count("<video") == 2
    assert "quarantine/flagged.mp4" not in page
    assert "violence: term:gore" in page and "output safety: nudity" in page
    assert "watermark c3cc639c; label AI-generated; C2PA signed (development certificate)" in page
    assert "not recorded" in page  # "one" carries no provenance, and the page says so
    assert "http://" not in page and "https://" not in page


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_gallery_renders_every_published_video_offline(
    store: tuple[Path, list[Manifest]], tmp_path: Path
) -> None:
    root, manifests = store
    page = write_gallery(manifests, root)
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
    ]  # fmt: skip
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert dom.count("<video") == 2
    for name in ("one", "two"):
        assert f'src="published/{name}.mp4"' in dom
        assert (root / "published" / f"{name}.mp4").stat().st_size > 0
    # Virtual time lets the players load their first frame before the picture is taken, but
    # the decoder runs in real time: on a busy machine (a CI run with every core taken) it
    # lagged three tries of 5 s running once, so a blank player earns more tries, each with
    # twice the budget before it.
    screenshot = tmp_path / "gallery.png"
    for budget_ms in (5000, 10000, 20000, 40000, 80000):
        subprocess.run(
            [CHROMIUM, *flags, f"--screenshot={screenshot}", "--window-size=1200,900",
             "--hide-scrollbars", f"--virtual-time-budget={budget_ms}",
             "--run-all-compositor-stages-before-draw", page.as_uri()],
            capture_output=True, timeout=120, check=True,
        )  # fmt: skip
        picture = iio.imread(screenshot)
        player = picture[150:330, 60:370, :3].astype(float)
        if player.std() > 20:
            break
    assert picture.shape[:2] == (900, 1200)
    # The first card's player shows the noise video's frame, not an empty black box.
    assert player.std() > 20 and player.mean() > 40


def test_markdown_summary_lists_every_job_and_links_only_published(
    store: tuple[Path, list[Manifest]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, manifests = store
    report = RunReport(run_id="r1", manifests=manifests, errors=["prompts/x.yaml: invalid YAML"])
    text = markdown_summary(report, link_base="https://store.example/")
    assert "[one.mp4](https://store.example/published/one.mp4)" in text
    assert "flagged.mp4" not in text
    assert "| bad | blocked | violence (term:gore) |" in text
    assert "- prompts/x.yaml: invalid YAML" in text
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    append_github_summary(text)
    append_github_summary(text)
    assert (tmp_path / "summary.md").read_text() == text * 2
