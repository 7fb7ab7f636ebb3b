"""One error hierarchy for vidflow: every message names the file, the job and the field."""

from __future__ import annotations

import unicodedata
from pathlib import Path

# Longest job or field name an error message repeats; a hostile file could make them huge.
NAME_LIMIT = 80


def plain(text: object, limit: int | None = None) -> str:
    """`text` safe to print on one line of a terminal or log: control and format characters
    (ANSI escapes, newlines, NUL, bidi overrides, zero-width) become visible escapes."""
    out = []
    for char in str(text):
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    result = "".join(out)
    if limit is not None and len(result) > limit:
        result = result[: limit - 3] + "..."
    return result


class VidflowError(Exception):
    """Base of every error vidflow raises on purpose."""


class ConfigError(VidflowError):
    """A setting, the store, the policy or the environment is unusable: nothing can run.

    The command line prints its message as one line and exits 3.
    """


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
        self.file = plain(file)
        self.job = None if job is None else plain(job, NAME_LIMIT)
        self.field = None if field is None else plain(field, NAME_LIMIT)
        self.reason = plain(message)
        where = self.file
        if self.job is not None:
            where += f" job '{self.job}'"
        if self.field is not None:
            where += f" field '{self.field}'"
        super().__init__(f"{where}: {self.reason}")


class ModelUnavailableError(VidflowError):
    """Model weights are neither cached locally nor reachable."""


class PlanError(VidflowError):
    """No plan fits the job on this hardware."""


class GenerationError(VidflowError):
    """Generation of one job failed."""
