"""Human review end to end on the CPU: held prompts and quarantined videos, decided on the
command line, carried out by the real flow with the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.reporting import markdown_summary
from vidflow.cli import main
from vidflow.manifest import Manifest, RunReport
from vidflow.review import ReviewBook
from vidflow.store import Store

pytestmark = pytest.mark.usefixtures("prefect_harness")

PRESS = "Trump confessing at a press conference, realistic news footage"
HELD = f'id: press\nprompt: "{PRESS}"\nnum_frames: 9\nsteps: 2\n'
CALM = """\
defaults: {num_frames: 9, steps: 2}
jobs:
  - {id: lake, prompt: "a calm lake at dawn"}
  - {id: field, prompt: "wind over a wheat field", seed: 5}
"""


def run_flow(**kwargs: object) -> RunReport:
    from flows.generate import generate_videos

    return generate_videos(**kwargs)


def by_id(report: RunReport) -> dict[str, Manifest]:
    return {m.job_id: m for m in report.manifests}


def book(root: Path) -> ReviewBook:
    return ReviewBook(Store(root / "artifacts"))


def audit_files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (root / "artifacts" / "reviews" / "audit").iterdir()}


def test_a_held_prompt_waits_until_approved_on_the_command_line(
    vidflow_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (vidflow_env / "prompts" / "press.yaml").write_text(HELD)
    published = vidflow_env / "artifacts" / "published"
    summary = vidflow_env / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    # 1. Held: a pending record, nothing made, the job summary says how to decide.
    first = run_flow()
    assert 'vidflow review approve press --reason "..."' in summary.read_text()
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    assert by_id(first)["press"].status == "review"
    (record,) = book(vidflow_env).records()
    assert record.pending and record.prompt == PRESS and record.verdict["action"] == "review"
    assert not published.exists()
    assert main(["review", "list"]) == 0
    assert "press" in capsys.readouterr().out
    # A second run that sees it still holds it, and keeps the one record.
    assert by_id(run_flow())["press"].status == "review"
    assert len(book(vidflow_env).records()) == 1

    # 2. A decision needs a reason and a known job.
    assert main(["review", "approve", "press", "--reason", " ", "--reviewer", "Ann"]) == 2
    assert "field 'reason'" in capsys.readouterr().err
    assert main(["review", "approve", "no-such-job", "--reason", "ok", "--reviewer", "Ann"]) == 2
    assert "job 'no-such-job'" in capsys.readouterr().err
    assert book(vidflow_env).records()[0].pending

    # 3. Approved (the reviewer from VIDFLOW_REVIEWER): the next run makes it.
    monkeypatch.setenv("VIDFLOW_REVIEWER", "Ann Moderator <ann@example.org>")
    from vidflow.settings import get_settings

    get_settings.cache_clear()
    assert main(["review", "approve", "press", "--reason", "satire desk, cleared"]) == 0
    assert not published.exists()
    before = audit_files(vidflow_env)
    manifest = by_id(run_flow())["press"]
    assert manifest.status == "published" and (published / "press.mp4").stat().st_size > 0
    (review,) = manifest.reviews
    assert review["decision"]["reviewer"] == "Ann Moderator <ann@example.org>"
    assert review["decision"]["reason"] == "satire desk, cleared"
    on_disk = Manifest.model_validate_json((published / "press.json").read_text())
    assert on_disk.reviews == manifest.reviews
    gallery = (vidflow_env / "artifacts" / "index.html").read_text()
    assert "approved by Ann Moderator" in gallery and "satire desk, cleared" in gallery
    # The reviewer's "<" and ">" are escaped for markdown.
    assert r"approved by Ann Moderator \<ann@example.org\>: satire desk" in markdown_summary(
        RunReport(run_id="r", manifests=[manifest])
    )

    # 4. A decision is final, and the audit log only grows.
    assert main(["review", "reject", "press", "--reason", "changed my mind"]) == 2
    assert "already approved by Ann Moderator" in capsys.readouterr().err
    after = audit_files(vidflow_env)
    assert all(after[name] == data for name, data in before.items())
    events = [e.event for e in book(vidflow_env).audit()]
    assert events == ["held", "approved"]

    # 5. An edited prompt is a new job: held again, and `--run` makes it at once.
    (vidflow_env / "prompts" / "press.yaml").write_text(HELD.replace("realistic", "realistic 4k"))
    held_again = by_id(run_flow())["press"]
    assert held_again.status == "review" and held_again.job_hash != manifest.job_hash
    assert main(["review", "approve", held_again.job_hash[:12], "--reason", "same desk",
                 "--reviewer", "Bo", "--run"]) == 0  # fmt: skip
    remade = Manifest.model_validate_json((published / "press.json").read_text())
    assert (
        remade.job_hash == held_again.job_hash and remade.reviews[0]["decision"]["reviewer"] == "Bo"
    )
    assert main(["review", "show", "press"]) == 0
    shown = capsys.readouterr().out
    assert "approve by Bo" in shown and "same desk" in shown


def test_a_rejected_prompt_is_recorded_and_never_made(
    vidflow_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (vidflow_env / "prompts" / "press.yaml").write_text(HELD)
    run_flow(dry_run=True)
    assert main(["review", "reject", "press", "--reason", "real person", "--reviewer", "Cy",
                 "--via", "GitHub Actions run 7"]) == 0  # fmt: skip

    report = run_flow()

    manifest = by_id(report)["press"]
    assert manifest.status == "blocked" and manifest.video is None
    assert manifest.reviews[0]["decision"]["action"] == "reject"
    assert manifest.reviews[0]["decision"]["via"] == "GitHub Actions run 7"
    assert not (vidflow_env / "artifacts" / "published").exists()
    assert not (vidflow_env / "artifacts" / "ledger").exists()
    gallery = (vidflow_env / "artifacts" / "index.html").read_text()
    assert "rejected by Cy" in gallery
    assert "| press | blocked | rejected by Cy: real person |" in markdown_summary(report)


def test_quarantined_videos_are_released_or_deleted_by_a_decision(
    vidflow_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from moderation.policy import load_policy

    policy = load_policy()
    policy.nudity.threshold = 0.0  # the shipped detector now flags every frame it scores
    path = vidflow_env / "policy.json"
    path.write_text(policy.model_dump_json(exclude={"source"}))
    monkeypatch.setenv("VIDFLOW_POLICY_PATH", str(path))
    (vidflow_env / "prompts" / "calm.yaml").write_text(CALM)
    store = vidflow_env / "artifacts"

    first = run_flow()
    assert {m.status for m in first.manifests} == {"quarantined"}
    records = {r.job_id: r for r in book(vidflow_env).records()}
    assert {(k, r.stage) for k, r in records.items()} == {("lake", "output"), ("field", "output")}
    assert records["lake"].safety["flagged_categories"] == ["nudity"]
    # What the Prefect form shows a moderator: the scores and frames of the video itself.
    from flows.review import review_markdown

    shown = review_markdown(records["lake"], Store(store))
    assert "| nudity | 0.000 | 0.000 |" in shown and shown.count("data:image/jpeg;base64,") == 4

    assert (
        main(["review", "approve", "lake", "--reason", "noise, not nudity", "--reviewer", "Di"])
        == 0
    )
    assert main(["review", "reject", "field", "--reason", "keep it out", "--reviewer", "Di"]) == 0

    released = Manifest.model_validate_json((store / "published" / "lake.json").read_text())
    assert released.status == "published" and (store / "published" / "lake.mp4").exists()
    assert released.reviews[0]["decision"]["reason"] == "noise, not nudity"
    assert released.video_sha256 == by_id(first)["lake"].video_sha256  # the same bytes
    assert sorted(p.name for p in (store / "quarantine").iterdir()) == []
    deleted = book(vidflow_env).get(records["field"].job_hash, "output")
    assert deleted is not None and deleted.rejected
    assert not (store / "ledger" / f"{records['field'].job_hash}.json").exists()
    events = {(e.job_id, e.event) for e in book(vidflow_env).audit()}
    assert {("lake", "published"), ("field", "deleted")} <= events

    # The next run reuses the released video and never makes the rejected one again.
    again = by_id(run_flow())
    assert again["lake"].status == "published" and again["lake"].reused
    assert again["field"].status == "blocked" and not list((store / "quarantine").glob("*.mp4"))
