"""What is known about each job and each run: the records publish writes and readers trust."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from vidflow import __version__

JobStatus = Literal["published", "quarantined", "blocked", "review", "failed", "skipped"]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Manifest(BaseModel):
    """One job's record: its spec, every decision taken about it, and where its video is."""

    job_id: str
    source: str = Field(description="Prompt file the job came from.")
    job_hash: str = Field(description="Content hash of the resolved spec plus model revision.")
    status: JobStatus
    job: dict[str, Any] = Field(description="The resolved job spec (vidflow.spec.Job).")
    video: str | None = Field(None, description="Path of the mp4 relative to the store root.")
    video_sha256: str | None = Field(None, description="Hash of the published mp4 bytes.")
    verdict: dict[str, Any] | None = Field(None, description="Prompt moderation verdict.")
    safety: dict[str, Any] | None = Field(None, description="Output safety report.")
    provenance: dict[str, Any] | None = Field(None, description="Watermark, label, C2PA.")
    plan: dict[str, Any] | None = Field(None, description="How the hardware made it.")
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per stage.")
    reviews: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Human reviews of this job (vidflow.review.ReviewRecord): the pending "
        "one while it waits, every decided one after.",
    )
    device: str | None = None
    error: str | None = None
    reused: bool = Field(
        False, description="True when a finished video from an earlier run was reused."
    )
    created_at: datetime = Field(default_factory=utc_now)
    vidflow_version: str = __version__
    telemetry: dict[str, Any] | None = Field(
        None,
        description="GPU utilisation, memory and clock samples over the generation (NVML), "
        "or why there are none.",
    )


class RunReport(BaseModel):
    """One flow run: every job's manifest and every prompt file that could not be read."""

    run_id: str
    started_at: datetime = Field(default_factory=utc_now)
    finished_at: datetime | None = None
    dry_run: bool = False
    manifests: list[Manifest] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list, description="Invalid prompt files.")

    def count(self, status: JobStatus) -> int:
        return sum(1 for m in self.manifests if m.status == status)

    @property
    def ok(self) -> bool:
        """False when any file was invalid or any job failed, was blocked or awaits review."""
        bad = {"failed", "blocked", "review"}
        return not self.errors and not any(m.status in bad for m in self.manifests)
