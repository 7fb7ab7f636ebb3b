"""The review flow: one run per held job, suspended until a person decides in the Prefect UI.

Prefect offers two ways to wait for a person: `pause_flow_run` keeps the flow's process
alive (and with it the worker slot, and on a GPU worker the GPU) while it waits;
`suspend_flow_run` ends the process and Prefect reschedules the run from its deployment
when input arrives. A review can wait for days, so this flow suspends, with
`wait_for_input` set to a `RunInput` form. After the answer, the run starts again from the
top; `suspend_flow_run` then returns the answer instead of suspending (its pause key has
fired), the decision is recorded in the store and carried out: an approved prompt is
generated through the generation flow (on the GPU worker that picked the run up), an
approved quarantined video is published, a rejected one deleted.
"""

from __future__ import annotations

import base64
import io
import tempfile
from pathlib import Path
from typing import Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.context import get_run_context
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput
from pydantic import BaseModel, Field

from flows.generate import generate_videos
from flows.review_runs import REVIEW_FLOW
from provenance.verify import read_frames
from vidflow.gallery import write_gallery
from vidflow.manifest import Manifest
from vidflow.review import PAST, ReviewBook, ReviewError, ReviewRecord, Stage
from vidflow.settings import get_settings
from vidflow.store import Store

FRAMES_SHOWN = 4
THUMBNAIL_PX = 192


class ReviewInput(RunInput):
    """The form the Prefect UI shows on a suspended review run."""

    decision: Literal["approve", "reject"] = Field(
        description="approve: make the job (or publish the quarantined video); "
        "reject: never make it (or delete the quarantined video)."
    )
    reason: str = Field(min_length=1, description="Why; recorded and shown in the manifest.")
    reviewer: str = Field(
        min_length=1,
        description="Your name or e-mail. Prefect's open-source server has no user accounts, "
        "so it is recorded as typed here.",
    )


class ReviewOutcome(BaseModel):
    """What a decision did."""

    record: ReviewRecord
    done: str = Field(description="What happened, in words.")
    manifest: Manifest | None = Field(None, description="The job's manifest after it.")


def _frames_markdown(store: Store, video: str) -> str:
    """A few frames of a quarantined video as inline images (data URIs stay in Prefect)."""
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "video.mp4"
        store.fs.get_file(ReviewBook(store).path(video), str(local))
        read = read_frames(local, FRAMES_SHOWN)
    frames, total = read.sample, read.total
    images = []
    for frame in frames:
        image = Image.fromarray(frame)
        image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=75)
        images.append(
            f"![frame](data:image/jpeg;base64,{base64.b64encode(buffer.getvalue()).decode()})"
        )
    return f"{len(images)} of {total} frames:\n\n" + " ".join(images)


def review_markdown(record: ReviewRecord, store: Store) -> str:
    """What the moderator needs: the prompt, why it was held, and frames of a video."""
    held = "prompt held by moderation" if record.stage == "prompt" else "video quarantined"
    lines = [
        f"### Review `{record.job_id}`: {held}",
        "",
        f"**Prompt**: {record.prompt}",
        "",
        f"**Why**: {record.why}",
        "",
        f"- source: `{record.source}`",
        f"- job hash: `{record.job_hash[:16]}`",
        f"- held at: {record.held_at:%Y-%m-%d %H:%M} UTC",
    ]
    if record.stage == "prompt" and record.verdict:
        lines += [
            "",
            "| category | rule | score | field | action |",
            "| --- | --- | --- | --- | --- |",
        ]
        for reason in record.verdict.get("reasons") or []:
            lines.append(
                f"| {reason.get('category')} | {reason.get('rule')} | "
                f"{float(reason.get('score', 0.0)):.2f} | {reason.get('field')} | "
                f"{reason.get('action')} |"
            )
    if record.stage == "output" and record.safety:
        scores = record.safety.get("scores") or {}
        thresholds = record.safety.get("thresholds") or {}
        lines += ["", "| category | score | threshold |", "| --- | --- | --- |"]
        for name, value in sorted(scores.items()):
            lines.append(f"| {name} | {float(value):.3f} | {float(thresholds.get(name, 0)):.3f} |")
        if record.video and store.exists(record.video):
            lines += ["", _frames_markdown(store, record.video)]
    lines += [
        "",
        (
            "Approve makes the job (or publishes the video); reject records the decision "
            "(and deletes the video). A decision is final."
        ),
    ]
    return "\n".join(lines) + "\n"


def carry_out(record: ReviewRecord, store: Store, generate: bool = True) -> ReviewOutcome:
    """Act on a decided record. An approved prompt is generated only when `generate` is on;
    otherwise the next run that sees the job makes it."""
    book = ReviewBook(store)
    if record.pending:
        raise ReviewError(f"job '{record.job_id}': not decided yet")
    if record.stage == "output":
        if record.approved:
            manifest: Manifest | None = book.release(record)
            done = f"published {manifest.video if manifest else ''}"
        else:
            removed = book.discard(record)
            manifest, done = None, "deleted " + (", ".join(removed) or "nothing (already gone)")
        if store.local_root is not None:
            write_gallery(store.manifests(), store.local_root)
        return ReviewOutcome(record=record, done=done, manifest=manifest)
    if record.rejected:
        return ReviewOutcome(record=record, done="rejected: it will not be generated")
    if not generate:
        return ReviewOutcome(record=record, done="approved: the next run that sees it makes it")
    report = generate_videos(paths=[record.source], job_hashes=[record.job_hash])
    made = [m for m in report.manifests if m.job_hash == record.job_hash]
    if not made:
        raise ReviewError(
            f"{record.source} job '{record.job_id}': no job with hash {record.job_hash[:12]} "
            "is in the file any more (the prompt was edited; the edit is a new job with its "
            "own review). The approval stays recorded for the content that was reviewed."
        )
    return ReviewOutcome(record=record, done=f"generated: {made[0].status}", manifest=made[0])


@flow(name=REVIEW_FLOW)
def review_job(job_hash: str, stage: Stage = "prompt") -> ReviewOutcome:
    """Wait for a person's decision on one held job, record it, and carry it out.

    job_hash: content hash of the held job (its review record's key).
    stage: prompt (held by prompt moderation) or output (quarantined by output safety).
    """
    logger = get_run_logger()
    settings = get_settings()
    store = Store(settings.store_url or settings.artifacts_dir)
    book = ReviewBook(store)

    # 1. The record must exist and wait: a decided job is never decided again.
    record = book.get(job_hash, stage)
    if record is None:
        raise ReviewError(f"job {job_hash[:12]} ({stage}): nothing held for review")
    if not record.pending:
        raise ReviewError(f"job '{record.job_id}' ({stage}) was already decided: {record.decision}")

    # 2. Show what waits, as an artifact and as the form's description.
    markdown = review_markdown(record, store)
    create_markdown_artifact(
        markdown=markdown, key=f"review-{job_hash[:16]}-{stage}", description="vidflow review"
    )

    # 3. Suspend: the process ends and holds no worker or GPU until someone answers.
    answer = suspend_flow_run(wait_for_input=ReviewInput.with_initial_data(description=markdown))

    # 4. Record the decision (refused if the command line decided meanwhile), carry it out.
    run_id = get_run_context().flow_run.id  # type: ignore[union-attr]
    record = book.decide(
        record, answer.decision, answer.reviewer, answer.reason, via=f"prefect flow run {run_id}"
    )
    logger.info(
        "%s %s by %s: %s", record.job_id, PAST[answer.decision], answer.reviewer, answer.reason
    )
    outcome = carry_out(record, store)
    logger.info("%s: %s", record.job_id, outcome.done)
    return outcome
