"""Which prompt files a push changed.

The git diff is only an optimisation: a job's identity is the content hash of its resolved
spec, and finished jobs are found in the store and skipped, so a full scan is always safe.
Whenever the diff cannot be trusted (a new branch's all-zero base, a base that a force push
removed, a change to the shared defaults file) we fall back to a full scan.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, Field

from vidflow.errors import VidflowError
from vidflow.spec import DEFAULTS_FILE, PROMPT_SUFFIXES

logger = logging.getLogger(__name__)

ZERO_SHA = "0" * 40


class ChangeSet(BaseModel):
    """The prompt files to run, or the reason to scan them all."""

    paths: list[str] = Field(default_factory=list, description="Repo-relative prompt files.")
    deleted: list[str] = Field(default_factory=list, description="Removed prompt files.")
    full_scan: str | None = Field(None, description="Why every prompt file must be scanned.")


def _is_prompt(path: str, prompts_dir: str) -> bool:
    pure = PurePosixPath(path)
    prefix = PurePosixPath(prompts_dir)
    return (
        prefix in pure.parents and pure.suffix in PROMPT_SUFFIXES and not pure.name.startswith("_")
    )


def parse_name_status(output: str, prompts_dir: str = "prompts") -> ChangeSet:
    """Turn `git diff --name-status -z` output into the prompt files to run.

    Pure: tested on plain strings. Renames and copies count as their new path; a changed
    `_defaults.yaml` changes every job, so it asks for a full scan.
    """
    fields = output.split("\0")
    changes = ChangeSet()
    i = 0
    while i < len(fields) and fields[i]:
        status = fields[i]
        kind = status[0]
        if kind in "RC":
            old, new = fields[i + 1], fields[i + 2]
            i += 3
        else:
            old = new = fields[i + 1]
            i += 2
        touches_defaults = DEFAULTS_FILE in (PurePosixPath(new).name, PurePosixPath(old).name)
        if touches_defaults and PurePosixPath(prompts_dir) in PurePosixPath(new).parents:
            changes.full_scan = f"{new} changed: its defaults apply to every job"
        if kind == "D":
            if _is_prompt(old, prompts_dir):
                changes.deleted.append(old)
            continue
        if kind == "R" and _is_prompt(old, prompts_dir) and not _is_prompt(new, prompts_dir):
            changes.deleted.append(old)
        if _is_prompt(new, prompts_dir) and new not in changes.paths:
            changes.paths.append(new)
    return changes


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )


def changed_prompt_files(revisions: str, repo: Path, prompts_dir: str = "prompts") -> ChangeSet:
    """Prompt files added or modified in `BASE..HEAD` of the repository at `repo`."""
    if ".." not in revisions:
        raise VidflowError(f"--changed takes BASE..HEAD, got {revisions!r}")
    base, head = revisions.split("..", 1)
    head = head or "HEAD"
    if _git(repo, "rev-parse", "--verify", "--quiet", f"{head}^{{commit}}").returncode:
        raise VidflowError(f"--changed: head revision {head!r} is not in {repo}")
    if not base or set(base) == {"0"}:
        return ChangeSet(full_scan=f"base {base or '(empty)'} is not a commit (a new branch)")
    if _git(repo, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}").returncode:
        return ChangeSet(full_scan=f"base {base} is not in this clone (force push or shallow)")
    diff = _git(
        repo,
        "diff",
        "--name-status",
        "-z",
        "--find-renames",
        "--no-relative",
        base,
        head,
        "--",
        prompts_dir,
    )
    if diff.returncode:
        raise VidflowError(f"git diff {base}..{head} failed: {diff.stderr.strip()}")
    return parse_name_status(diff.stdout, prompts_dir)
