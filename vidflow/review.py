"""Human review: a record per held prompt and per quarantined video, and who decided what.

A job that prompt moderation holds (`review`) or whose video output safety quarantines
waits here for a person. Records are keyed by the job's content hash, so an edited prompt
is a new job that needs a new decision. Layout under the store root, beside the ledger:

    reviews/<job_hash>.<stage>.json             the record: what was held and why, and the
                                                decision once made (stage: prompt or output)
    reviews/decisions/<job_hash>.<stage>.json   the decision, created once and never rewritten
    reviews/audit/<time>-<hash>-<stage>-<event>.json  the audit log, one file per event

The decision file is created with an exclusive create: of two people deciding the same
job at the same moment one wins and the other is told it was already decided. The audit
log is append-only: events are new files, none is ever rewritten or deleted.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from vidflow.errors import VidflowError
from vidflow.manifest import Manifest, utc_now
from vidflow.store import LEDGER, QUARANTINE, Store

logger = logging.getLogger(__name__)

REVIEWS = "reviews"
DECISIONS = f"{REVIEWS}/decisions"
AUDIT = f"{REVIEWS}/audit"

Stage = Literal["prompt", "output"]
Action = Literal["approve", "reject"]
PAST: dict[str, str] = {"approve": "approved", "reject": "rejected"}
Event = Literal["held", "approved", "rejected", "published", "deleted", "review-run"]


class ReviewError(VidflowError):
    """A decision that cannot be taken: unknown job, already decided, no reason."""


class Decision(BaseModel):
    """What a person decided about one held job, and why."""

    action: Action
    reviewer: str = Field(min_length=1, description="Who decided: a name, e-mail or login.")
    reason: str = Field(min_length=1, description="Why; required, shown in the manifest.")
    decided_at: datetime = Field(default_factory=utc_now)
    via: str = Field(description="Where: the command line, a Prefect flow run, a GitHub run.")

    @field_validator("reviewer", "reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class ReviewRecord(BaseModel):
    """One held prompt (stage `prompt`) or quarantined video (stage `output`)."""

    job_hash: str = Field(description="Content hash of the job: the record's key.")
    stage: Stage = Field(description="prompt: held by prompt moderation; output: quarantined.")
    job_id: str
    source: str = Field(description="Prompt file the job came from.")
    prompt: str
    job: dict[str, Any] = Field(description="The resolved job spec, as it was held.")
    verdict: dict[str, Any] | None = Field(None, description="Prompt moderation verdict.")
    safety: dict[str, Any] | None = Field(None, description="Output safety report.")
    video: str | None = Field(None, description="Quarantined video, relative to the store.")
    held_at: datetime = Field(default_factory=utc_now)
    review_run: str | None = Field(None, description="Prefect flow run that waits for input.")
    decision: Decision | None = None

    @property
    def pending(self) -> bool:
        return self.decision is None

    @property
    def approved(self) -> bool:
        return self.decision is not None and self.decision.action == "approve"

    @property
    def rejected(self) -> bool:
        return self.decision is not None and self.decision.action == "reject"

    @property
    def why(self) -> str:
        """Why it was held, in a few words."""
        if self.stage == "output":
            flagged = (self.safety or {}).get("flagged_categories") or []
            return "output safety: " + ", ".join(flagged)
        verdict = self.verdict or {}
        return f"{verdict.get('category')} ({verdict.get('rule')})"

    def stamp(self) -> dict[str, Any]:
        """The record as a manifest carries it: without the spec the manifest already has."""
        return self.model_dump(mode="json", exclude={"job"})


class AuditEvent(BaseModel):
    """One line of the audit log."""

    at: datetime = Field(default_factory=utc_now)
    event: Event
    job_hash: str
    stage: Stage
    job_id: str
    reviewer: str | None = None
    reason: str | None = None
    detail: str = ""


def reviewer_name(flag: str | None, env_value: str | None, cwd: Path | None = None) -> str:
    """Who is deciding: the flag, else VIDFLOW_REVIEWER, else git's user.name <user.email>."""
    for value in (flag, env_value):
        if value and value.strip():
            return value.strip()

    def git(key: str) -> str:
        try:
            out = subprocess.run(
                ["git", "config", key], cwd=cwd, capture_output=True, text=True, check=False
            )
        except OSError:
            return ""
        return out.stdout.strip()

    name, email = git("user.name"), git("user.email")
    if name and email:
        return f"{name} <{email}>"
    if name or email:
        return name or email
    raise ReviewError(
        "no reviewer: pass --reviewer NAME, set VIDFLOW_REVIEWER, or set git config user.name"
    )


class ReviewBook:
    """The review records and audit log of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # Paths and raw files.
    def _record_rel(self, job_hash: str, stage: Stage) -> str:
        return f"{REVIEWS}/{job_hash}.{stage}.json"

    def _decision_rel(self, job_hash: str, stage: Stage) -> str:
        return f"{DECISIONS}/{job_hash}.{stage}.json"

    def path(self, rel: str) -> str:
        """A store-relative path as the store's filesystem names it."""
        return f"{self.store.root}/{rel}"

    def _write(self, rel: str, model: BaseModel) -> None:
        """Written aside and renamed into place: a reader sees the old file or the new one."""
        final = self.path(rel)
        tmp = f"{final}.partial-{uuid.uuid4().hex[:8]}"
        self.store.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        with self.store.fs.open(tmp, "wb") as handle:
            handle.write(model.model_dump_json(indent=2).encode())
        self.store.fs.mv(tmp, final)

    def _read(self, rel: str) -> str | None:
        if not self.store.fs.exists(self.path(rel)):
            return None
        with self.store.fs.open(self.path(rel), "r", encoding="utf-8") as handle:
            text: str = handle.read()
        return text

    def _create(self, rel: str, model: BaseModel) -> bool:
        """Create a file that must not exist yet; False if it does (someone was first)."""
        fs, path = self.store.fs, self.path(rel)
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        data = model.model_dump_json(indent=2).encode()
        if self.store.local_root is not None:
            # Written aside, then hard-linked into place: the link fails if the name exists,
            # and a reader never sees half a file.
            tmp = Path(f"{path}.partial-{uuid.uuid4().hex[:8]}")
            tmp.write_bytes(data)
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            finally:
                tmp.unlink()
            return True
        # An object store: exists() then write; two writers within one round trip of each
        # other can both pass, which the store's own conditional writes would close.
        if fs.exists(path):
            return False
        with fs.open(path, "wb") as handle:
            handle.write(data)
        return True

    def _log(self, record: ReviewRecord, event: Event, detail: str = "") -> None:
        decision = record.decision
        entry = AuditEvent(
            event=event,
            job_hash=record.job_hash,
            stage=record.stage,
            job_id=record.job_id,
            reviewer=decision.reviewer if decision and event != "held" else None,
            reason=decision.reason if decision and event != "held" else None,
            detail=detail,
        )
        stamp = entry.at.strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{stamp}-{record.job_hash[:16]}-{record.stage}-{event}-{uuid.uuid4().hex[:6]}"
        if not self._create(f"{AUDIT}/{name}.json", entry):
            raise ReviewError(f"audit log entry {name} already exists")

    # Reading.
    def get(self, job_hash: str, stage: Stage) -> ReviewRecord | None:
        text = self._read(self._record_rel(job_hash, stage))
        if text is None:
            return None
        record = ReviewRecord.model_validate_json(text)
        # The decision file is the authority: a crash between it and the record's rewrite
        # still shows the decision.
        decided = self._read(self._decision_rel(job_hash, stage))
        if decided is not None:
            record.decision = Decision.model_validate_json(decided)
        return record

    def records(self) -> list[ReviewRecord]:
        base = self.path(REVIEWS)
        if not self.store.fs.exists(base):
            return []
        found = []
        for path in sorted(self.store.fs.glob(f"{base}/*.json")):
            job_hash, stage, _ = path.rsplit("/", 1)[1].split(".")
            record = self.get(job_hash, stage)
            if record is not None:
                found.append(record)
        return sorted(found, key=lambda r: r.held_at)

    def audit(self) -> list[AuditEvent]:
        base = self.path(AUDIT)
        if not self.store.fs.exists(base):
            return []
        events = []
        for path in sorted(self.store.fs.glob(f"{base}/*.json")):
            with self.store.fs.open(path, "r", encoding="utf-8") as handle:
                events.append(AuditEvent.model_validate_json(handle.read()))
        return events

    def find_all(self, ref: str) -> list[ReviewRecord]:
        """Every record of a job id or hash prefix (8+ characters), oldest first."""
        ref = ref.strip()
        matches = [
            r
            for r in self.records()
            if r.job_id == ref or (len(ref) >= 8 and r.job_hash.startswith(ref))
        ]
        if not matches:
            raise ReviewError(f"job '{ref}': nothing held for review under this id or hash")
        return matches

    def find(self, ref: str) -> ReviewRecord:
        """The one record a person means by a job id or a hash prefix (8+ characters).

        Pending records win over decided ones, so `approve city` means the city job that
        waits now, not an older, decided version of it.
        """
        matches = self.find_all(ref)
        pending = [r for r in matches if r.pending]
        candidates = pending or matches
        if len(candidates) > 1:
            listed = ", ".join(f"{r.job_hash[:12]} ({r.stage})" for r in candidates)
            raise ReviewError(f"job '{ref}' is ambiguous: name one by hash: {listed}")
        return candidates[0]

    def stamps(self, job_hash: str) -> list[dict[str, Any]]:
        """Every decided review of a job, as its manifest carries them."""
        stages: tuple[Stage, ...] = ("prompt", "output")
        records = [self.get(job_hash, stage) for stage in stages]
        return [r.stamp() for r in records if r is not None and not r.pending]

    # Writing.
    def hold(self, manifest: Manifest, stage: Stage) -> ReviewRecord:
        """The record for a held prompt or quarantined video; created once, then reused."""
        existing = self.get(manifest.job_hash, stage)
        if existing is not None:
            return existing
        record = ReviewRecord(
            job_hash=manifest.job_hash,
            stage=stage,
            job_id=manifest.job_id,
            source=manifest.source,
            prompt=str(manifest.job.get("prompt", "")),
            job=manifest.job,
            verdict=manifest.verdict,
            safety=manifest.safety if stage == "output" else None,
            video=manifest.video if stage == "output" else None,
        )
        self._write(self._record_rel(record.job_hash, stage), record)
        self._log(record, "held", record.why)
        return record

    def set_review_run(self, record: ReviewRecord, flow_run_id: str) -> ReviewRecord:
        record = record.model_copy(update={"review_run": flow_run_id})
        self._write(self._record_rel(record.job_hash, record.stage), record)
        self._log(record, "review-run", f"Prefect flow run {flow_run_id}")
        return record

    def decide(
        self, record: ReviewRecord, action: Action, reviewer: str, reason: str, via: str
    ) -> ReviewRecord:
        """Record a decision once; a second decision on the same record is refused."""
        where = f"job '{record.job_id}' ({record.job_hash[:12]}, {record.stage})"
        if not reason or not reason.strip():
            raise ReviewError(f"{where} field 'reason': a reason is required")
        if not reviewer or not reviewer.strip():
            raise ReviewError(f"{where} field 'reviewer': a reviewer is required")
        current = self.get(record.job_hash, record.stage)
        if current is None:
            raise ReviewError(f"{where}: not held for review")
        decision = Decision(action=action, reviewer=reviewer, reason=reason, via=via)
        if current.decision is not None or not self._create(
            self._decision_rel(record.job_hash, record.stage), decision
        ):
            done = self.get(record.job_hash, record.stage)
            previous = done.decision if done else None
            said = (
                f"{PAST[previous.action]} by {previous.reviewer} at {previous.decided_at:%Y-%m-%d %H:%M}Z"
                if previous
                else "decided"
            )
            raise ReviewError(f"{where} was already {said}; a decision is never changed")
        decided = current.model_copy(update={"decision": decision})
        self._write(self._record_rel(record.job_hash, record.stage), decided)
        self._log(decided, "approved" if action == "approve" else "rejected", via)
        return decided

    def release(self, record: ReviewRecord) -> Manifest:
        """Publish an approved quarantined video: the manifest says who let it out and why."""
        if record.stage != "output" or not record.approved:
            raise ReviewError(
                f"job '{record.job_id}': only an approved quarantined video is published"
            )
        quarantined = self.store.lookup(record.job_hash)
        if quarantined is None or quarantined.status != "quarantined" or not quarantined.video:
            raise ReviewError(
                f"job '{record.job_id}' ({record.job_hash[:12]}): its quarantined video is "
                "no longer in the store"
            )
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "video.mp4"
            self.store.fs.get_file(self.path(quarantined.video), str(local))
            manifest = quarantined.model_copy(
                update={"status": "published", "reviews": self.stamps(record.job_hash)}
            )
            published = self.store.save(manifest, local)
        self._remove_quarantine(quarantined)
        self._log(record, "published", published.video or "")
        return published

    def discard(self, record: ReviewRecord) -> list[str]:
        """Delete a rejected quarantined video: its mp4, its manifest and its ledger entry."""
        if record.stage != "output" or not record.rejected:
            raise ReviewError(
                f"job '{record.job_id}': only a rejected quarantined video is deleted"
            )
        quarantined = self.store.lookup(record.job_hash)
        removed: list[str] = []
        if quarantined is not None and quarantined.status == "quarantined":
            removed = self._remove_quarantine(quarantined)
            ledger = f"{LEDGER}/{record.job_hash}.json"
            if self.store.exists(ledger):
                self.store.fs.rm(self.path(ledger))
                removed.append(ledger)
        self._log(record, "deleted", ", ".join(removed))
        return removed

    def _remove_quarantine(self, manifest: Manifest) -> list[str]:
        removed = []
        for rel in (manifest.video, f"{QUARANTINE}/{manifest.job_id}.json"):
            if rel and self.store.exists(rel):
                self.store.fs.rm(self.path(rel))
                removed.append(rel)
        return removed


def decide_command(action: Action, ref: str) -> str:
    return f'vidflow review {action} {ref} --reason "..."'


def pending_summary(records: list[ReviewRecord]) -> str:
    """Markdown for the run summary: what waits for a person, and how to decide it."""
    if not records:
        return ""
    ids = [r.job_id for r in records]
    lines = [
        "",
        (
            "**Awaiting human review**: decide with the `review` workflow (job, decision, "
            "reason), in the Prefect UI (the suspended review run), or on the command line:"
        ),
        "",
        "| job | held | why | decide |",
        "| --- | --- | --- | --- |",
    ]
    for r in records:
        ref = r.job_id if ids.count(r.job_id) == 1 else r.job_hash[:12]
        why = r.why.replace("|", "/")
        commands = " or ".join(f"`{decide_command(a, ref)}`" for a in ("approve", "reject"))
        lines.append(f"| {r.job_id} | {r.stage} | {why} | {commands} |")
    return "\n".join(lines) + "\n"
