"""One error hierarchy for vidflow: every message names the file, the job and the field."""

from __future__ import annotations

from pathlib import Path


class VidflowError(Exception):
    """Base of every error vidflow raises on purpose."""


class SpecError(VidflowError):
    """A prompt file or one of its jobs is invalid.

    The message always starts with the file; job and field follow when known, so a user
    can jump straight to the line that needs fixing.
    """

    def __init__(
        self,
        file: Path | str,
        message: str,
        *,
        job: str | None = None,
        field: str | None = None,
    ) -> None:
        self.file = str(file)
        self.job = job
        self.field = field
        self.reason = message
        where = self.file
        if job is not None:
            where += f" job '{job}'"
        if field is not None:
            where += f" field '{field}'"
        super().__init__(f"{where}: {message}")


class ModelUnavailableError(VidflowError):
    """Model weights are neither cached locally nor reachable."""


class PlanError(VidflowError):
    """No plan fits the job on this hardware."""


class GenerationError(VidflowError):
    """Generation of one job failed."""
