"""The whole flow on the CPU with the tiny preset: real Prefect, diffusers, watermark, mp4."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provenance.verify import verify_file
from vidflow.manifest import Manifest, RunReport

pytestmark = pytest.mark.usefixtures("prefect_harness")

GOOD = """\
defaults: {num_frames: 9, steps: 2}
jobs:
  - id: beach
    prompt: "Waves rolling onto a sandy beach at sunset"
  - id: forest
    prompt: "Sunlight through tall pine trees, slow dolly forward"
    seed: 3
"""
BLOCKED = 'id: bad\nprompt: "a graphic gore scene with a decapitated body"\n'
BROKEN = "jobs:\n  - {id: wide, prompt: fine, width: 250}\n"


def run_flow(**kwargs: object) -> RunReport:
    from flows.generate import generate_videos

    return generate_videos(**kwargs)


def by_id(report: RunReport) -> dict[str, Manifest]:
    return {m.job_id: m for m in report.manifests}


def test_flow_publishes_blocks_and_reports_a_broken_file(vidflow_env: Path) -> None:
    prompts = vidflow_env / "prompts"
    (prompts / "good.yaml").write_text(GOOD)
    (prompts / "bad.yaml").write_text(BLOCKED)
    (prompts / "broken.yaml").write_text(BROKEN)
    store = vidflow_env / "artifacts"

    report = run_flow()

    jobs = by_id(report)
    assert {k: m.status for k, m in jobs.items()} == {
        "beach": "published",
        "forest": "published",
        "bad": "blocked",
    }
    assert len(report.errors) == 1 and "broken.yaml job 'wide' field 'width'" in report.errors[0]
    assert jobs["bad"].video is None and jobs["bad"].verdict["action"] == "block"
    assert not (store / "published" / "bad.mp4").exists()
    for job_id in ("beach", "forest"):
        manifest = jobs[job_id]
        video = store / "published" / f"{job_id}.mp4"
        on_disk = Manifest.model_validate_json((store / "published" / f"{job_id}.json").read_text())
        assert on_disk.job_hash == manifest.job_hash and on_disk.video == f"published/{job_id}.mp4"
        assert manifest.job["preset"] == "tiny" and manifest.job["num_frames"] == 9
        assert manifest.safety is not None and manifest.safety["calibrated"] is False
        assert manifest.plan and manifest.timings["total_s"] > 0
        check = verify_file(video)
        assert check.status == "marked"
        assert manifest.provenance is not None
        assert check.watermark.payload == manifest.provenance["watermark"]["payload"]
    latest = json.loads((store / "latest-run.json").read_text())
    assert latest["run_id"] == report.run_id
    gallery = (store / "index.html").read_text()
    assert 'src="published/beach.mp4"' in gallery and 'src="published/forest.mp4"' in gallery
    assert "bad.mp4" not in gallery and "blocked" in gallery


def test_rerun_regenerates_nothing_finished(vidflow_env: Path) -> None:
    prompts = vidflow_env / "prompts"
    (prompts / "good.yaml").write_text(GOOD)
    first = run_flow()
    video = vidflow_env / "artifacts" / "published" / "beach.mp4"
    stamp = video.stat().st_mtime_ns

    # Renaming a job and adding tags does not change what it generates.
    (prompts / "good.yaml").write_text(GOOD.replace("id: beach", "id: shore"))
    second = run_flow()

    assert all(m.reused for m in second.manifests)
    assert {m.job_hash for m in second.manifests} == {m.job_hash for m in first.manifests}
    assert video.stat().st_mtime_ns == stamp
    assert (vidflow_env / "artifacts" / "published" / "shore.mp4").exists()


def test_dry_run_generates_nothing(vidflow_env: Path) -> None:
    (vidflow_env / "prompts" / "good.yaml").write_text(GOOD)
    report = run_flow(dry_run=True)
    assert {m.status for m in report.manifests} == {"skipped"}
    assert not (vidflow_env / "artifacts" / "published").exists()


def test_a_failing_job_does_not_stop_the_batch(vidflow_env: Path) -> None:
    prompts = vidflow_env / "prompts"
    (prompts / "good.yaml").write_text(GOOD)
    # A preset whose weights cannot be found fails at generation time, for that job only.
    missing = vidflow_env / "no-such-model"
    (prompts / "local.yaml").write_text(
        "id: local\nprompt: a quiet lake\npreset: wan2.1-t2v-1.3b\nnum_frames: 9\n"
        "width: 256\nheight: 256\nsteps: 2\n"
    )
    os.environ["VIDFLOW_MODEL_DIR_WAN2_1_T2V_1_3B"] = str(missing)
    try:
        report = run_flow()
    finally:
        del os.environ["VIDFLOW_MODEL_DIR_WAN2_1_T2V_1_3B"]
    jobs = by_id(report)
    assert jobs["local"].status == "failed" and jobs["local"].error
    assert jobs["beach"].status == jobs["forest"].status == "published"


@pytest.mark.slow
def test_a_crash_mid_batch_loses_no_finished_video(vidflow_env: Path) -> None:
    """Kill the whole run (flow and generation child) after the first job is published."""
    prompts = vidflow_env / "prompts"
    many = "defaults: {num_frames: 9, steps: 2}\njobs:\n" + "".join(
        f"  - {{id: clip-{i}, prompt: 'a sailing boat number {i}', seed: {i}}}\n" for i in range(5)
    )
    (prompts / "many.yaml").write_text(many)
    ledger = vidflow_env / "artifacts" / "ledger"
    # The child runs its own ephemeral Prefect server: give it a Prefect home of its own, not
    # the user's (whose database another Prefect version may have migrated).
    env = {**os.environ, "PREFECT_HOME": str(vidflow_env / "prefect-home")}
    log = vidflow_env / "run.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "vidflow.cli", "run"],
            env=env,
            start_new_session=True,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not any(ledger.glob("*.json")):
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise AssertionError(f"the run ended before it could be interrupted:\n{tail}")
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):  # none left if the run ended itself
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finished = {p.stem for p in ledger.glob("*.json")}
    assert 1 <= len(finished) < 5
    published = vidflow_env / "artifacts" / "published"
    for entry in ledger.glob("*.json"):
        manifest = Manifest.model_validate_json(entry.read_text())
        assert verify_file(published / f"{manifest.job_id}.mp4").status == "marked"

    report = run_flow()

    jobs = by_id(report)
    assert all(m.status == "published" for m in jobs.values()) and len(jobs) == 5
    reused = {m.job_hash for m in jobs.values() if m.reused}
    assert reused == finished
    assert not [p for p in published.iterdir() if ".partial" in p.name]


def test_flagged_output_is_quarantined_never_published(
    vidflow_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moderation.policy import load_policy

    policy = load_policy()
    policy.nudity.threshold = 0.0  # the shipped detector now flags every frame
    path = vidflow_env / "policy.json"
    path.write_text(policy.model_dump_json(exclude={"source"}))
    monkeypatch.setenv("VIDFLOW_POLICY_PATH", str(path))
    (vidflow_env / "prompts" / "good.yaml").write_text(GOOD)

    report = run_flow()

    store = vidflow_env / "artifacts"
    assert {m.status for m in report.manifests} == {"quarantined"}
    assert sorted(p.name for p in (store / "quarantine").glob("*.mp4")) == [
        "beach.mp4",
        "forest.mp4",
    ]
    assert not (store / "published").exists()
    gallery = (store / "index.html").read_text()
    assert "<video" not in gallery and "output safety: nudity" in gallery


def test_a_host_with_two_gpus_runs_one_generation_child_per_gpu(
    vidflow_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The GPU count is injected: this CPU machine has none, so each child runs on the CPU,
    # pinned by CUDA_VISIBLE_DEVICES exactly as it would be to its GPU.
    monkeypatch.setenv("VIDFLOW_GPUS", "0,1")
    (vidflow_env / "prompts" / "good.yaml").write_text(GOOD)
    report = run_flow()
    assert [m.status for m in report.manifests] == ["published", "published"]
    assert sorted(m.plan["cuda_visible_devices"] for m in report.manifests) == ["0", "1"]


def test_a_job_another_run_holds_is_waited_for_and_taken_when_its_claim_lapses(
    vidflow_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generation.presets import resolve_job
    from vidflow.claims import Claims
    from vidflow.spec import load_prompt_files
    from vidflow.store import Store

    monkeypatch.setenv("VIDFLOW_CLAIM_LEASE_S", "3")
    prompts = vidflow_env / "prompts"
    (prompts / "good.yaml").write_text(GOOD)
    loaded = load_prompt_files([prompts], prompts)
    hashes = {spec.id: resolve_job(spec, src, "tiny").content_hash for src, spec in loaded.jobs}
    store = Store(vidflow_env / "artifacts")
    # A run on another host holds "beach" and then goes silent (never renews).
    other = Claims(store, "run@another-host-1-abcd1234", lease_s=3)
    assert other.claim(hashes["beach"]) is not None

    report = run_flow()

    assert {m.job_id: m.status for m in report.manifests} == {
        "beach": "published",
        "forest": "published",
    }
    taken = Claims(store, "reader", lease_s=1).current(hashes["beach"])
    assert taken is not None and taken.number == 1 and taken.owner != other.owner
    assert taken.expired(), "released once published"


def test_image_to_video_job_reports_each_step_and_records_telemetry(
    vidflow_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image
    from skimage import data

    import flows.generate as flow_module

    prompts = vidflow_env / "prompts"
    Image.fromarray(data.astronaut()).resize((128, 128)).save(prompts / "astronaut.png")
    (prompts / "i2v.yaml").write_text(
        "id: astronaut\nprompt: the astronaut waves\npreset: tiny-ti2v\nimage: astronaut.png\n"
        "width: 256\nheight: 256\nnum_frames: 5\nsteps: 3\n"
    )
    shown: list[float] = []
    real_update = flow_module.update_progress_artifact

    def record(artifact_id: object, progress: float, **kwargs: object) -> object:
        shown.append(progress)
        return real_update(artifact_id, progress=progress, **kwargs)

    monkeypatch.setattr(flow_module, "update_progress_artifact", record)
    manifest = by_id(run_flow())["astronaut"]
    assert manifest.status == "published"
    assert manifest.job["preset"] == "tiny-ti2v" and manifest.job["image"].endswith("astronaut.png")
    # One update per denoising step (a third of the job each), then the finished job.
    assert shown == [33.3, 66.7, 100.0, 100.0]
    assert manifest.telemetry == {"available": False, "reason": manifest.telemetry["reason"]}
    assert manifest.plan and manifest.plan["step_cache"] is None
