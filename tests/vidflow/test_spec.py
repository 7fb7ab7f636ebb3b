from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidflow.cli import main
from vidflow.errors import SpecError
from vidflow.spec import JobSpec, load_prompt_files, parse_prompt_file

REPO = Path(__file__).resolve().parents[2]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_single_job_file_takes_its_id_from_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, "Sunset.yaml", "prompt: a red sunset\nseed: 3\n")
    parsed = parse_prompt_file(path)
    assert [(j.id, j.prompt, j.seed) for j in parsed.jobs] == [("sunset", "a red sunset", 3)]


def test_file_defaults_apply_to_jobs_and_jobs_override_them(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "many.yaml",
        "defaults: {fps: 8, seed: 5}\njobs:\n"
        "  - {id: a, prompt: one}\n  - {id: b, prompt: two, seed: 9}\n",
    )
    jobs = parse_prompt_file(path, {"fps": 24, "width": 320}).jobs
    assert [(j.id, j.fps, j.seed, j.width) for j in jobs] == [("a", 8, 5, 320), ("b", 8, 9, 320)]


@pytest.mark.parametrize(
    ("text", "job", "field", "reason"),
    [
        ("jobs:\n  - {id: a, prompt: x, width: 100}\n", "a", "width", "multiple of 16"),
        ("jobs:\n  - {id: a, prompt: x, num_frames: 80}\n", "a", "num_frames", "4k+1"),
        ("jobs:\n  - {id: a, prompt: x, steps: many}\n", "a", "steps", "integer"),
        ("jobs:\n  - {id: a, prompt: x, seed: -1}\n", "a", "seed", "greater than"),
        ("jobs:\n  - {id: a, prompt: x, colour: red}\n", "a", "colour", "not permitted"),
        ("jobs:\n  - {id: a, prompt: x}\n  - {id: a, prompt: y}\n", "a", "id", "duplicate"),
        ("jobs:\n  - {id: Bad Id, prompt: x}\n", "Bad Id", "id", "pattern"),
        ("jobs:\n  - {id: a}\n", "a", "prompt", "required"),
    ],
)
def test_errors_name_the_file_the_job_and_the_field(
    tmp_path: Path, text: str, job: str, field: str, reason: str
) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(SpecError) as caught:
        parse_prompt_file(path)
    error = caught.value
    assert (error.file, error.job, error.field) == (str(path), job, field)
    assert reason in str(error)
    assert str(error).startswith(f"{path} job '{job}' field '{field}'")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", "prompt: a\n  seed: [1, 2\n")
    with pytest.raises(SpecError, match=r"broken.yaml: invalid YAML \(line \d+"):
        parse_prompt_file(path)


def test_a_broken_file_never_stops_the_others(tmp_path: Path) -> None:
    write(tmp_path, "good.yaml", "prompt: fine\n")
    write(tmp_path, "sub/also-good.yaml", "jobs:\n  - {id: two, prompt: fine too}\n")
    write(tmp_path, "bad.yaml", "jobs:\n  - {id: x, prompt: y, width: 17}\n")
    write(tmp_path, "worse.yaml", "::: not yaml [\n")
    report = load_prompt_files([tmp_path], tmp_path)
    assert sorted(job.id for _, job in report.jobs) == ["good", "two"]
    assert len(report.errors) == 2
    assert any("bad.yaml job 'x' field 'width'" in e for e in report.errors)
    assert any("worse.yaml" in e for e in report.errors)


def test_job_ids_must_be_unique_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "jobs:\n  - {id: same, prompt: one}\n")
    write(tmp_path, "b.yaml", "jobs:\n  - {id: same, prompt: two}\n")
    report = load_prompt_files([tmp_path], tmp_path)
    assert [job.id for _, job in report.jobs] == ["same"]
    expected = (
        f"{tmp_path / 'b.yaml'} job 'same' field 'id': duplicate job id, already used in "
        f"{tmp_path / 'a.yaml'}"
    )
    assert report.errors == [expected]


def test_defaults_file_is_validated_and_not_run_as_a_job(tmp_path: Path) -> None:
    write(tmp_path, "_defaults.yaml", "fps: 12\n")
    write(tmp_path, "a.yaml", "prompt: one\n")
    report = load_prompt_files([tmp_path], tmp_path)
    assert [(job.id, job.fps) for _, job in report.jobs] == [("a", 12)]
    write(tmp_path, "_defaults.yaml", "prompt: not allowed here\n")
    report = load_prompt_files([tmp_path], tmp_path)
    assert report.errors == [
        f"{tmp_path / '_defaults.yaml'} field 'prompt': not a field that can have a default"
    ]


def test_shipped_schema_is_current() -> None:
    assert main(["schema", "--check", "--output", str(REPO / "prompts" / "schema.json")]) == 0


def test_schema_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = write(tmp_path, "schema.json", json.dumps({"old": True}))
    assert main(["schema", "--check", "--output", str(stale)]) == 2


def test_schema_describes_the_fields_and_bounds() -> None:
    schema = json.loads((REPO / "prompts" / "schema.json").read_text())
    fields = schema["$defs"]["JobSpec"]["properties"]
    assert set(JobSpec.model_fields) == set(fields)
    assert "multiple of 16" in fields["width"]["anyOf"][0].get("description", "") or (
        "multiple of 16" in fields["width"].get("description", "")
    )
