"""The run summary as Prefect table rows, published through a real local Prefect API."""

from __future__ import annotations

import re

import pytest
from prefect import flow
from prefect.artifacts import Artifact, create_table_artifact

from flows.reporting import job_rows
from vidflow.manifest import Manifest, RunReport


def manifest(job_id: str, status: str, **extra: object) -> Manifest:
    return Manifest.model_validate(
        {"job_id": job_id, "source": f"prompts/{job_id}.yaml", "job_hash": "0" * 64,
         "status": status, "job": {"prompt": "a lake", "preset": "tiny"}, **extra}
    )  # fmt: skip


def test_job_rows_show_every_job_and_withhold_unpublished_media() -> None:
    report = RunReport(
        run_id="r1",
        manifests=[
            manifest("lake", "published", video="published/lake.mp4",
                     safety={"scores": {"nudity": 0.02, "violence": 0.3}},
                     timings={"total_s": 4.25}),
            manifest("held", "quarantined", video="quarantine/held.mp4",
                     safety={"flagged_categories": ["nudity"], "scores": {"nudity": 0.9}}),
        ],
    )  # fmt: skip
    lake, held = job_rows(report)
    assert lake == {"job": "lake", "status": "published", "why": "",
                    "top safety score": "violence 0.30", "seconds": "4.2",
                    "video": "published/lake.mp4"}  # fmt: skip
    assert held["video"] == "" and held["why"] == "output safety: nudity"


@pytest.mark.usefixtures("prefect_harness")
def test_job_rows_are_accepted_as_a_prefect_table_artifact() -> None:
    report = RunReport(run_id="r2", manifests=[manifest("lake", "failed", error="boom | bang")])

    @flow
    def publish() -> None:
        create_table_artifact(job_rows(report), key="vidflow-jobs-test")

    publish()
    stored = Artifact.get("vidflow-jobs-test")
    assert stored is not None and "boom / bang" in str(stored.data)


def test_markdown_summary_shows_hostile_text_as_text() -> None:
    from flows.reporting import markdown_summary

    hostile = "bad.yaml job '<img src=x onerror=alert(1)>' field 'id': [click](https://evil) | x"
    report = RunReport(
        run_id="r3",
        manifests=[manifest("lake", "failed", error="**boom** `x` \x1b[31m")],
        errors=[hostile, "a.yaml: line\nbreak"],
    )
    summary = markdown_summary(report)
    errors = summary.split("**Invalid prompt files**")[1]
    assert not re.search(r"(?<!\\)[<>]", summary), "raw HTML reached the markdown"
    assert not re.search(r"(?<!\\)\]\(", summary) and "\x1b" not in summary
    # Unescaped, each line reads exactly as the error did (control characters shown).
    items = [re.sub(r"\\(.)", r"\1", line[2:]) for line in errors.strip().splitlines()]
    assert items == [hostile, "a.yaml: line\\x0abreak"]
    # Each error stays one list item, each job one table row.
    assert errors.strip().count("\n") == 1
    row = next(line for line in summary.splitlines() if line.startswith("| lake"))
    assert "\\*\\*boom\\*\\* \\`x\\`" in row and row.count(" | ") == 5
