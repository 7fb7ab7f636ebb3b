from __future__ import annotations

from pathlib import Path

import pytest

from vidflow.manifest import Manifest, RunReport
from vidflow.store import Store


def manifest(job_id: str, job_hash: str, status: str = "published") -> Manifest:
    return Manifest(
        job_id=job_id, source="prompts/x.yaml", job_hash=job_hash, status=status, job={}
    )


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"not really an mp4, but bytes are bytes" * 100)
    return path


def test_save_writes_video_manifest_and_ledger_without_leftovers(tmp_path: Path, video: Path):
    store = Store(tmp_path / "store")
    saved = store.save(manifest("sunset", "h1"), video)
    root = tmp_path / "store"
    assert (root / "published/sunset.mp4").read_bytes() == video.read_bytes()
    assert saved.video == "published/sunset.mp4" and saved.video_sha256
    assert Manifest.model_validate_json((root / "ledger/h1.json").read_text()) == saved
    assert not list(root.rglob("*.partial*"))
    assert store.lookup("h1") == saved
    assert store.lookup("h2") is None


def test_quarantined_jobs_never_land_in_published(tmp_path: Path, video: Path) -> None:
    store = Store(tmp_path / "store")
    store.save(manifest("bad", "h9", "quarantined"), video)
    assert (tmp_path / "store/quarantine/bad.mp4").exists()
    assert not (tmp_path / "store/published").exists()
    with pytest.raises(ValueError, match="only published or quarantined"):
        store.save(manifest("x", "h8", "blocked"), None)


def test_lookup_ignores_an_entry_whose_video_vanished(tmp_path: Path, video: Path) -> None:
    store = Store(tmp_path / "store")
    store.save(manifest("sunset", "h1"), video)
    (tmp_path / "store/published/sunset.mp4").unlink()
    assert store.lookup("h1") is None


def test_republish_under_a_new_name_copies_the_video(tmp_path: Path, video: Path) -> None:
    store = Store(tmp_path / "store")
    previous = store.save(manifest("old-name", "h1"), video)
    again = store.republish(previous, "new-name", "prompts/y.yaml", {"id": "new-name"})
    assert again.reused and again.video == "published/new-name.mp4"
    assert (tmp_path / "store/published/new-name.mp4").read_bytes() == video.read_bytes()
    assert (tmp_path / "store/published/new-name.json").exists()


def test_any_fsspec_url_works(video: Path) -> None:
    store = Store("memory://vidflow-test-store")
    store.save(manifest("a", "ha"), video)
    assert store.lookup("ha") is not None
    assert [m.job_id for m in store.manifests()] == ["a"]
    store.save_run(RunReport(run_id="r1"))
    assert store.exists("runs/r1.json") and store.exists("latest-run.json")
