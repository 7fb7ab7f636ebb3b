"""No video lost or mislabelled: two files with one id, and a kill -9 in the middle of a
publish followed by a rerun. Real flow runs on the tiny preset."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from provenance.verify import verify_file
from vidflow.manifest import Manifest, RunReport
from vidflow.owners import owner_gone
from vidflow.store import CRASH_AT_ENV, STAGING, Store, file_sha256

pytestmark = pytest.mark.usefixtures("prefect_harness")

FIRST = "id: shared-name\nprompt: a lighthouse on a cliff\nnum_frames: 9\nsteps: 2\n"
SECOND = "id: shared-name\nprompt: a field of sunflowers\nnum_frames: 9\nsteps: 2\n"


def run_flow(*paths: Path) -> RunReport:
    from flows.generate import generate_videos

    return generate_videos(paths=[str(p) for p in paths] or None)


@pytest.mark.slow
def test_a_second_file_with_the_same_id_never_replaces_the_first_video(vidflow_env: Path) -> None:
    prompts, store_root = vidflow_env / "prompts", vidflow_env / "artifacts"
    first, second = prompts / "first.yaml", prompts / "second.yaml"
    video = store_root / "published" / "shared-name.mp4"
    first.write_text(FIRST)
    made = run_flow(first).manifests[0]
    assert made.status == "published"
    original = file_sha256(video)

    # As `--changed` runs it when the second file is pushed on its own.
    second.write_text(SECOND)
    report = run_flow(second)
    assert report.manifests == []
    assert report.errors == [
        (
            f"{second} job 'shared-name' field 'id': the id is already published from "
            f"{first}, a different video; rename the job in one of the two files"
        )
    ]
    assert file_sha256(video) == original

    # Rerunning the first file finds its own video, unchanged, under its name.
    again = run_flow(first).manifests[0]
    assert again.reused and again.job_hash == made.job_hash
    assert again.video_sha256 == file_sha256(video) == original
    on_disk = Manifest.model_validate_json((store_root / "published/shared-name.json").read_text())
    assert on_disk.source == str(first) and on_disk.job["prompt"] == "a lighthouse on a cliff"

    # The first file gives the id up: now the second may take it, and the first's ledger
    # entry goes with its video, so it is never reported finished with the wrong bytes.
    first.write_text(FIRST.replace("shared-name", "lighthouse"))
    taken = run_flow(second).manifests[0]
    assert taken.status == "published" and not taken.reused
    assert file_sha256(video) == taken.video_sha256 != original
    assert Store(store_root).lookup(made.job_hash) is None


@pytest.mark.slow
def test_kill_9_between_video_and_manifest_then_a_rerun_loses_nothing(vidflow_env: Path) -> None:
    (vidflow_env / "prompts" / "one.yaml").write_text(FIRST.replace("shared-name", "one"))
    store_root = vidflow_env / "artifacts"
    env = {
        **os.environ,
        CRASH_AT_ENV: "video-moved",
        "PREFECT_HOME": str(vidflow_env / "prefect-home"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "vidflow.cli", "run"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.wait(timeout=400) == -signal.SIGKILL
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # Prefect's server, orphaned by the kill
    # Killed with the mp4 moved in and no manifest beside it yet.
    assert (store_root / "published/one.mp4").exists()
    assert not (store_root / "published/one.json").exists()
    assert list((store_root / STAGING).iterdir())

    report = run_flow()

    (job,) = report.manifests
    assert job.status == "published" and job.reused  # finished by recovery, not remade
    assert not list((store_root / STAGING).iterdir())
    assert verify_file(store_root / "published/one.mp4").status == "marked"
    assert file_sha256(store_root / "published/one.mp4") == job.video_sha256
    assert not [p for p in store_root.rglob("*") if "partial" in p.name]
    # The killed run's work folder (its frames) went with the rerun too.
    work = Path(os.environ["VIDFLOW_CACHE_DIR"]) / "work"
    assert not [d for d in work.iterdir() if owner_gone(d.name, d.stat().st_mtime)]


def test_work_folders_of_killed_runs_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    import socket

    from flows.generate import remove_abandoned_work

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    killed = tmp_path / f"{socket.gethostname()}-{dead.stdout.strip()}-abcd1234"
    live = tmp_path / f"{socket.gethostname()}-{os.getppid()}-abcd1234"
    for folder in (killed, live):
        folder.mkdir()
        (folder / "frames.npy").write_bytes(b"0" * 1000)
    assert remove_abandoned_work(tmp_path) == [
        f"removed the work folder of a killed run ({killed.name})"
    ]
    assert not killed.exists() and live.exists()


def test_the_run_report_is_written_even_when_the_store_is_full(
    vidflow_env: Path, monkeypatch: pytest.MonkeyPatch, session_cache: Path
) -> None:
    import errno

    from flows.generate import generate_videos

    (vidflow_env / "prompts" / "one.yaml").write_text(FIRST)

    def full(self: Store, report: RunReport) -> str:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Store, "save_run", full)
    report = generate_videos(dry_run=True)
    fallback = session_cache / "runs" / f"{report.run_id}.json"
    assert RunReport.model_validate_json(fallback.read_text()).run_id == report.run_id


def test_a_bad_changed_range_is_one_error_in_the_report(vidflow_env: Path) -> None:
    from flows.generate import generate_videos

    (vidflow_env / "prompts" / "one.yaml").write_text(FIRST)
    report = generate_videos(changed="no-such-base..no-such-head")
    assert report.manifests == []
    (error,) = report.errors
    assert error.startswith("--changed: head revision 'no-such-head' is not in")


def test_a_run_where_every_file_is_invalid_reports_them_all(vidflow_env: Path) -> None:
    from flows.generate import generate_videos

    (vidflow_env / "prompts" / "a.yaml").write_text("prompt: a\nsteps: true\n")
    (vidflow_env / "prompts" / "b.yaml").write_text("prompt: [\n")
    report = generate_videos()
    assert report.manifests == [] and len(report.errors) == 2
    assert (vidflow_env / "artifacts" / "latest-run.json").exists()
