"""Prompt files: the YAML users commit, validated into `Job` objects.

A prompt file holds one job (a mapping with a `prompt`) or many (`jobs: [...]`, with an
optional file-level `defaults:` mapping). `prompts/_defaults.yaml` supplies defaults for
every file under `prompts/`. Fields a job leaves out and no defaults file sets are taken
from the model preset when the job is resolved.
"""

from __future__ import annotations

import hashlib
import json
import logging
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vidflow.errors import SpecError
from vidflow.files import FileRefused, checked_file, inside, read_checked

logger = logging.getLogger(__name__)

DEFAULTS_FILE = "_defaults.yaml"
PROMPT_SUFFIXES = (".yaml", ".yml")
SPEC_VERSION = 1
# Limits that keep one hostile file from eating the runner: a prompt file of many jobs
# is a few kB, a real one never nests more than 4 levels.
MAX_PROMPT_FILE_BYTES = 1 << 20
MAX_IMAGE_BYTES = 64 << 20
MAX_NESTING = 16
# Line breaks and tabs are how YAML block scalars write long prompts; nothing else below
# U+0020 (NUL, ANSI escapes, ...) belongs in text a model or a terminal reads.
_PROMPT_WHITESPACE = frozenset("\n\t")

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


def _no_control_characters(value: str, allowed: frozenset[str] = frozenset()) -> str:
    for index, char in enumerate(value):
        if char not in allowed and unicodedata.category(char) == "Cc":
            raise ValueError(
                f"must not contain control characters (U+{ord(char):04X} at position {index})"
            )
    return value


def _visible(value: str) -> bool:
    """True when something is left once invisible characters (zero-width, format, spaces,
    combining marks on nothing) are taken out: a prompt of only those asks for nothing."""
    normal = unicodedata.normalize("NFKC", value)
    return any(unicodedata.category(c)[0] not in ("C", "Z", "M") for c in normal)


class JobSpec(BaseModel):
    """One video to make, as written in a prompt file."""

    # strict: `steps: true`, `seed: yes` and `width: "256"` are errors, never coerced.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

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
        None,
        ge=0.0,
        le=20.0,
        allow_inf_nan=False,
        description="Classifier-free guidance; 1.0 or less turns it off.",
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Random seed; same seed, same video.")
    fps: int | None = Field(None, ge=1, le=60, description="Frames per second of the mp4.")
    image: str | None = Field(
        None, description="Input image path (relative to the prompt file) for image-to-video."
    )
    tags: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=32)
    owner: str | None = Field(None, max_length=128, description="Who to ask about this job.")

    _check_16 = field_validator("width", "height")(_multiple_of_16)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_written(cls, value: Any) -> Any:
        # Checked before whitespace is stripped: "name\n" is not silently "name".
        if isinstance(value, str) and value != value.strip():
            raise ValueError("must not start or end with spaces or line breaks")
        return value

    @field_validator("prompt", "negative_prompt")
    @classmethod
    def _prompt_text(cls, value: str) -> str:
        _no_control_characters(value, _PROMPT_WHITESPACE)
        return value

    @field_validator("prompt")
    @classmethod
    def _prompt_not_empty(cls, value: str) -> str:
        if not _visible(value):
            raise ValueError("has no visible characters")
        return value

    @field_validator("owner", "preset", "image")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return None if value is None else _no_control_characters(value)

    @field_validator("tags")
    @classmethod
    def _tags_one_line(cls, value: list[str]) -> list[str]:
        for tag in value:
            _no_control_characters(tag)
        return value

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

    def identity(self) -> dict[str, Any]:
        """The fields that decide the pixels; names, tags and owner do not."""
        return self.model_dump(exclude={"id", "source", "tags", "owner"}) | {
            "spec_version": SPEC_VERSION
        }

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


class _StrictLoader(yaml.SafeLoader):
    """YAML as users mean it: a repeated key, an alias, `!!binary` or nesting deeper than
    `MAX_NESTING` is an error, never a silent last-wins, an expansion bomb or a crash."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed", event.start_mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested deeper than {MAX_NESTING} levels",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a plain value", key_node.start_mark
                ) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {str(key)!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)

    def _refuse_tag(self, node: Any) -> Any:
        raise yaml.constructor.ConstructorError(
            None, None, f"{node.tag} values are not allowed", node.start_mark
        )


for _tag in ("binary", "set", "omap", "pairs"):
    _StrictLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _StrictLoader._refuse_tag)


def _parse_yaml(data: bytes, name: str) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(name, f"not UTF-8 text (byte {exc.start})") from None
    try:
        loader = _StrictLoader(text)
    except yaml.reader.ReaderError as exc:  # NUL, ESC and other bytes YAML never allows
        raise SpecError(
            name, f"invalid YAML: character U+{exc.character:04X} at position {exc.position}"
        ) from None
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(name, f"invalid YAML{where}: {problem}") from None
    finally:
        loader.dispose()


def _read_yaml(path: Path, root: Path | None, name: str) -> Any:
    """The YAML of a prompt file that really is a small regular file under `root`."""
    try:
        data = read_checked(path, root or path.absolute().parent, MAX_PROMPT_FILE_BYTES)
    except FileRefused as exc:
        raise SpecError(name, str(exc)) from None
    return _parse_yaml(data, name)


def _check_defaults(data: Any, name: str, field_prefix: str = "") -> dict[str, Any]:
    """Defaults validated as fields of a job, so a bad value is blamed on where it is written
    and not on every job it would reach."""
    if not isinstance(data, dict):
        raise SpecError(
            name, "must be a mapping of job fields", field=field_prefix.rstrip(".") or None
        )
    allowed = set(JobSpec.model_fields) - {"id", "prompt"}
    for key in sorted(data, key=str):
        if key not in allowed:
            raise SpecError(
                name, "not a field that can have a default", field=f"{field_prefix}{key}"
            )
    try:
        JobSpec.model_validate({"id": "defaults", "prompt": "defaults"} | data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = field_prefix + _format_loc(first["loc"])
        raise SpecError(name, first["msg"], field=field) from None
    return data


def load_defaults(prompts_dir: Path) -> dict[str, Any]:
    """Repo-wide defaults from `prompts/_defaults.yaml`, validated against `JobSpec`."""
    path = prompts_dir / DEFAULTS_FILE
    if not path.exists() and not path.is_symlink():
        return {}
    data = _read_yaml(path, prompts_dir, str(path))
    return _check_defaults({} if data is None else data, str(path))


def _check_image(spec: JobSpec, path: Path, root: Path, name: str) -> JobSpec:
    """The job with its image as a checked real path: relative to the prompt file, inside
    `root`, a regular file under the size limit."""
    if spec.image is None:
        return spec
    if Path(spec.image).is_absolute():
        raise SpecError(name, "must be relative to the prompt file", job=spec.id, field="image")
    try:
        real = checked_file(path.absolute().parent / spec.image, root, MAX_IMAGE_BYTES)
    except FileRefused as exc:
        raise SpecError(name, f"image {spec.image}: {exc}", job=spec.id, field="image") from None
    return spec.model_copy(update={"image": str(real)})


def parse_prompt_file(
    path: Path,
    defaults: dict[str, Any] | None = None,
    *,
    display: str | None = None,
    root: Path | None = None,
) -> PromptFile:
    """Parse one file; raise `SpecError` naming file, job and field for the first problem.

    `root` is the folder the file and its images must stay inside (default: the file's
    own folder).
    """
    name = display or str(path)
    root = root or path.absolute().parent
    data = _read_yaml(path, root, name)
    defaults = dict(defaults or {})
    if data is None:
        raise SpecError(name, "file is empty")
    if not isinstance(data, dict):
        raise SpecError(name, "must be a mapping with 'prompt' (one job) or 'jobs' (many)")
    if "jobs" in data:
        unknown = sorted(str(key) for key in data if key not in ("jobs", "defaults"))
        if unknown:
            raise SpecError(name, "unknown top-level key", field=unknown[0])
        if data.get("defaults") is not None:
            defaults |= _check_defaults(data["defaults"], name, "defaults.")
        raw_jobs = data["jobs"]
        if not isinstance(raw_jobs, list) or not raw_jobs:
            raise SpecError(name, "must be a non-empty list of jobs", field="jobs")
    else:
        if "id" not in data:
            data = {"id": Path(name).stem.lower(), **data}
        raw_jobs = [data]

    jobs: list[JobSpec] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_jobs):
        label = f"#{index + 1}"
        if not isinstance(raw, dict):
            raise SpecError(name, "must be a mapping", job=label)
        if isinstance(raw.get("id"), str):
            label = raw["id"]
        try:
            job = JobSpec.model_validate(defaults | raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise SpecError(
                name, first["msg"], job=label, field=_format_loc(first["loc"])
            ) from None
        if job.id in seen:
            raise SpecError(name, "duplicate job id in this file", job=job.id, field="id")
        seen.add(job.id)
        jobs.append(_check_image(job, path, root, name))
    return PromptFile(path=name, jobs=jobs)


def discover(paths: Iterable[Path], root: Path) -> tuple[list[Path], list[str]]:
    """Prompt files under the given files or folders, sorted, and an error for each path
    that cannot be one.

    In a folder, `_*.yaml` files (the defaults) are skipped; a file named on its own must be
    a prompt file inside `root`. Anything with a prompt suffix that is not a folder is kept,
    so a link or a FIFO gets its own error from the reader instead of vanishing.
    """
    found: set[Path] = set()
    errors: list[str] = []
    for path in paths:
        if path.is_dir():
            try:
                inside(path, root)
            except FileRefused as exc:
                errors.append(str(SpecError(path, str(exc))))
                continue
            found.update(
                p
                for p in path.rglob("*")
                if p.suffix in PROMPT_SUFFIXES and not p.name.startswith("_") and not p.is_dir()
            )
        elif path.name.startswith("_"):
            errors.append(
                str(SpecError(path, "not a prompt file: names starting with '_' are not run"))
            )
        elif path.suffix not in PROMPT_SUFFIXES:
            errors.append(
                str(SpecError(path, "not a prompt file: the name must end .yaml or .yml"))
            )
        else:
            found.add(path)
    return sorted(found), errors


def load_prompt_files(paths: Iterable[Path], prompts_dir: Path) -> LoadReport:
    """Parse every file; a broken file is reported and never stops the others.

    Every file, and every image a job names, must really lie inside `prompts_dir`. Job ids
    must be unique across the whole batch, since they name the published files.
    """
    report = LoadReport()
    try:
        defaults = load_defaults(prompts_dir)
    except SpecError as exc:
        # The other files still run, on their own and the presets' settings.
        report.errors.append(str(exc))
        defaults = {}
    files, refused = discover(paths, prompts_dir)
    report.errors += refused
    owners: dict[str, str] = {}
    for path in files:
        try:
            parsed = parse_prompt_file(path, defaults, root=prompts_dir)
            for job in parsed.jobs:
                if job.id in owners:
                    raise SpecError(
                        path,
                        f"duplicate job id, already used in {owners[job.id]}",
                        job=job.id,
                        field="id",
                    )
        except SpecError as exc:
            report.errors.append(str(exc))
            continue
        except Exception as exc:  # one unreadable file never stops the batch
            logger.debug("reading %s failed", path, exc_info=True)
            report.errors.append(
                str(SpecError(path, f"cannot be read ({type(exc).__name__}: {exc})"))
            )
            continue
        for job in parsed.jobs:
            owners[job.id] = str(path)
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
