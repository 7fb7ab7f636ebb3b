"""Prompt files: the YAML users commit, validated into `Job` objects.

A prompt file holds one job (a mapping with a `prompt`) or many (`jobs: [...]`, with an
optional file-level `defaults:` mapping). `prompts/_defaults.yaml` supplies defaults for
every file under `prompts/`. Fields a job leaves out and no defaults file sets are taken
from the model preset when the job is resolved.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vidflow.errors import SpecError

DEFAULTS_FILE = "_defaults.yaml"
PROMPT_SUFFIXES = (".yaml", ".yml")
SPEC_VERSION = 1

JobId = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="Unique name of the job: lowercase letters, digits, '-' and '_'.",
    ),
]


def _multiple_of_16(value: int | None, info: Any) -> int | None:
    if value is not None and value % 16:
        raise ValueError(f"must be a multiple of 16, got {value}")
    return value


class StepCache(BaseModel):
    """Reuse of transformer work between denoising steps (diffusers' cache hooks); opt-in,
    since it trades some fidelity for speed (docs/benchmarks.md cites the authors' figures)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["first-block", "taylorseer"] = Field(
        description="first-block: skip the remaining blocks while the first block's output "
        "barely changes (First Block Cache); taylorseer: forecast the blocks' outputs from "
        "earlier steps by a Taylor series (TaylorSeer)."
    )
    threshold: float | None = Field(
        None,
        gt=0,
        le=1,
        description="first-block: relative change of the first block's output under which "
        "the rest is reused (default 0.05; higher is faster and less faithful).",
    )
    interval: int | None = Field(
        None,
        ge=1,
        le=10,
        description="taylorseer: steps between full computations (default 5).",
    )


def _step_cache(value: Any) -> Any:
    """`step_cache: none` or a method name, or a mapping with the method's parameters."""
    if value == "none":
        return None
    if isinstance(value, str):
        return {"method": value}
    return value


class JobSpec(BaseModel):
    """One video to make, as written in a prompt file."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: JobId
    prompt: str = Field(min_length=1, max_length=2000, description="What the video shows.")
    negative_prompt: str = Field("", max_length=2000, description="What it must not show.")
    preset: str | None = Field(
        None, description="Model preset name (see `vidflow presets`); default from settings."
    )
    width: int | None = Field(None, ge=64, le=1920, description="Pixels, a multiple of 16.")
    height: int | None = Field(None, ge=64, le=1920, description="Pixels, a multiple of 16.")
    num_frames: int | None = Field(
        None, ge=1, le=241, description="Frames, of the form 4k+1 (e.g. 33, 49, 81)."
    )
    steps: int | None = Field(None, ge=1, le=200, description="Denoising steps.")
    guidance_scale: float | None = Field(
        None, ge=0.0, le=20.0, description="Classifier-free guidance; 1.0 or less turns it off."
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Random seed; same seed, same video.")
    fps: int | None = Field(None, ge=1, le=60, description="Frames per second of the mp4.")
    image: str | None = Field(
        None, description="Input image path (relative to the prompt file) for image-to-video."
    )
    tags: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=32)
    owner: str | None = Field(None, max_length=128, description="Who to ask about this job.")
    # The string forms are in the type for the JSON Schema (editors); the validator below
    # turns them into a StepCache or None before validation.
    step_cache: StepCache | Literal["none", "first-block", "taylorseer"] | None = Field(
        None,
        description="Step caching for many-step presets: none (default), a method name, or "
        "a mapping {method, threshold | interval}.",
    )

    _check_16 = field_validator("width", "height")(_multiple_of_16)

    @field_validator("step_cache", mode="before")
    @classmethod
    def _parse_step_cache(cls, value: Any) -> Any:
        return _step_cache(value)

    @field_validator("num_frames")
    @classmethod
    def _frames_4k_plus_1(cls, value: int | None) -> int | None:
        if value is not None and (value - 1) % 4:
            raise ValueError(f"must be of the form 4k+1 (e.g. 33, 49, 81), got {value}")
        return value


class Job(BaseModel):
    """A job with every generation setting resolved: what the generator actually runs."""

    model_config = ConfigDict(frozen=True)

    id: str
    source: str = Field(description="Prompt file the job came from, relative to the repo.")
    prompt: str
    negative_prompt: str
    preset: str
    model_id: str = Field(description="Hub id or local folder of the model.")
    model_revision: str = Field(description="Model revision; part of the job's identity.")
    width: int
    height: int
    num_frames: int
    steps: int
    guidance_scale: float
    seed: int
    fps: int
    image: str | None = None
    tags: tuple[str, ...] = ()
    owner: str | None = None
    step_cache: StepCache | None = None
    image_sha256: str | None = Field(
        None, description="Hash of the input image's bytes: a changed image is a new job."
    )

    def identity(self) -> dict[str, Any]:
        """The fields that decide the pixels; names, tags and owner do not. Fields added
        later are left out while unset, so older jobs keep the hash they had."""
        unset = {name for name in ("step_cache", "image_sha256") if getattr(self, name) is None}
        exclude = {"id", "source", "tags", "owner"} | unset
        return self.model_dump(exclude=exclude) | {"spec_version": SPEC_VERSION}

    @property
    def content_hash(self) -> str:
        canonical = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps


class PromptFile(BaseModel):
    """The parsed content of one prompt file."""

    path: str
    jobs: list[JobSpec]


class LoadReport(BaseModel):
    """Every job that parsed, and every error, across a set of prompt files."""

    files: list[PromptFile] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)

    @property
    def jobs(self) -> list[tuple[str, JobSpec]]:
        return [(f.path, job) for f in self.files for job in f.jobs]


def _format_loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(root)"


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(path, f"cannot read file: {exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(path, f"invalid YAML{where}: {problem}") from exc


def load_defaults(prompts_dir: Path) -> dict[str, Any]:
    """Repo-wide defaults from `prompts/_defaults.yaml`, validated against `JobSpec`."""
    path = prompts_dir / DEFAULTS_FILE
    if not path.exists():
        return {}
    data = _read_yaml(path) or {}
    if not isinstance(data, dict):
        raise SpecError(path, "must be a mapping of job fields")
    allowed = set(JobSpec.model_fields) - {"id", "prompt"}
    for key in data:
        if key not in allowed:
            raise SpecError(path, "not a field that can have a default", field=str(key))
    return data


def parse_prompt_file(
    path: Path, defaults: dict[str, Any] | None = None, *, display: str | None = None
) -> PromptFile:
    """Parse one file; raise `SpecError` naming file, job and field for the first problem."""
    name = display or str(path)
    data = _read_yaml(path)
    defaults = dict(defaults or {})
    if data is None:
        raise SpecError(name, "file is empty")
    if not isinstance(data, dict):
        raise SpecError(name, "must be a mapping with 'prompt' (one job) or 'jobs' (many)")
    if "jobs" in data:
        unknown = set(data) - {"jobs", "defaults"}
        if unknown:
            raise SpecError(name, "unknown top-level key", field=min(unknown))
        file_defaults = data.get("defaults") or {}
        if not isinstance(file_defaults, dict):
            raise SpecError(name, "must be a mapping", field="defaults")
        defaults |= file_defaults
        raw_jobs = data["jobs"]
        if not isinstance(raw_jobs, list) or not raw_jobs:
            raise SpecError(name, "must be a non-empty list of jobs", field="jobs")
    else:
        raw_jobs = [data]
        if "id" not in data:
            data = {"id": Path(name).stem.lower(), **data}
            raw_jobs = [data]

    jobs: list[JobSpec] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_jobs):
        label = f"#{index + 1}"
        if not isinstance(raw, dict):
            raise SpecError(name, "must be a mapping", job=label)
        label = str(raw.get("id", label))
        try:
            job = JobSpec.model_validate(defaults | raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise SpecError(name, first["msg"], job=label, field=_format_loc(first["loc"])) from exc
        if job.id in seen:
            raise SpecError(name, "duplicate job id in this file", job=job.id, field="id")
        seen.add(job.id)
        jobs.append(job)
    return PromptFile(path=name, jobs=jobs)


def discover(paths: Iterable[Path]) -> list[Path]:
    """Prompt files under the given files or folders, sorted; `_*.yaml` files are skipped."""
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.suffix in PROMPT_SUFFIXES and p.is_file())
        else:
            found.add(path)
    return sorted(p for p in found if not p.name.startswith("_"))


def load_prompt_files(paths: Iterable[Path], prompts_dir: Path) -> LoadReport:
    """Parse every file; a broken file is reported and never stops the others.

    Job ids must be unique across the whole batch, since they name the published files.
    """
    report = LoadReport()
    try:
        defaults = load_defaults(prompts_dir)
    except SpecError as exc:
        report.errors.append(str(exc))
        defaults = {}
    owners: dict[str, str] = {}
    for path in discover(paths):
        try:
            if not path.exists():
                raise SpecError(path, "file not found")
            parsed = parse_prompt_file(path, defaults)
            for job in parsed.jobs:
                if job.id in owners:
                    raise SpecError(
                        path,
                        f"duplicate job id, already used in {owners[job.id]}",
                        job=job.id,
                        field="id",
                    )
            for job in parsed.jobs:
                owners[job.id] = str(path)
        except SpecError as exc:
            report.errors.append(str(exc))
            continue
        report.files.append(parsed)
    return report


def json_schema() -> dict[str, Any]:
    """JSON Schema of a prompt file, for editors; written to prompts/schema.json."""
    job = JobSpec.model_json_schema()
    defs = job.pop("$defs", {})
    defaults = {
        "type": "object",
        "description": "Defaults applied to every job of this file.",
        "properties": {k: v for k, v in job["properties"].items() if k not in ("id", "prompt")},
        "additionalProperties": False,
    }
    # A one-job file may leave out `id`: it defaults to the file name.
    single = job | {"required": [name for name in job["required"] if name != "id"]}
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "vidflow prompt file",
        "description": "One job (a mapping with 'prompt') or many ('jobs' with 'defaults').",
        "oneOf": [
            {"$ref": "#/$defs/SingleJob"},
            {
                "type": "object",
                "properties": {
                    "defaults": defaults,
                    "jobs": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/JobSpec"}},
                },
                "required": ["jobs"],
                "additionalProperties": False,
            },
        ],
        "$defs": defs | {"JobSpec": job, "SingleJob": single},
    }
    return schema
