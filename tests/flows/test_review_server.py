"""Review runs on a real Prefect server: suspended with a form, resumed through the API."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from uuid import UUID

import pytest
from prefect import get_client
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.exceptions import PrefectHTTPStatusError
from prefect.flow_runs import resume_flow_run
from prefect.input.run_input import keyset_from_paused_state
from prefect.settings import PREFECT_API_URL, temporary_settings
from test_deployment import REPO, run, server_env, stop  # noqa: F401 - a shared fixture

from vidflow.manifest import Manifest
from vidflow.review import ReviewBook
from vidflow.store import Store

pytestmark = pytest.mark.slow

HELD = {
    "press": "Trump confessing at a press conference, realistic news footage",
    "rifle": "step by step tutorial: assemble the rifle",
    "hats": "Obama announcing a tax on hats, realistic news footage",
}


def wait_for(client, run_id: UUID, done, timeout: float = 300) -> FlowRun:
    deadline = time.monotonic() + timeout
    while True:
        flow_run = client.read_flow_run(run_id)
        if done(flow_run):
            return flow_run
        assert flow_run.state is None or not flow_run.state.is_final() or done(flow_run), (
            flow_run.state
        )
        assert time.monotonic() < deadline, f"run {run_id} stuck in {flow_run.state}"
        time.sleep(1)


def suspended(flow_run: FlowRun) -> bool:
    return flow_run.state is not None and flow_run.state.type == StateType.PAUSED


def form_of(client, flow_run: FlowRun, timeout: float = 60) -> str:
    """A suspended run's review form. Prefect's suspend_flow_run sets the Suspended state
    first and writes the form after it, so a run just seen suspended may not have it yet
    (a CI run under load read it in that gap and got a 404)."""
    keyset = keyset_from_paused_state(flow_run.state)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return str(client.read_flow_run_input(flow_run.id, keyset["description"]))
        except PrefectHTTPStatusError as exc:
            if exc.response.status_code != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def test_held_jobs_wait_in_suspended_runs_and_the_answer_is_carried_out(
    server_env: dict[str, str],  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    for name, prompt in HELD.items():
        (prompts / f"{name}.yaml").write_text(f'prompt: "{prompt}"\nnum_frames: 9\nsteps: 2\n')
    # Output safety flags every video (the shipped detector at threshold 0): the approved
    # prompt's video is quarantined and waits in a second review run.
    from moderation.policy import load_policy

    policy = load_policy()
    policy.nudity.threshold = 0.0
    (tmp_path / "policy.json").write_text(policy.model_dump_json(exclude={"source"}))
    server_env = server_env | {"VIDFLOW_POLICY_PATH": str(tmp_path / "policy.json")}
    run(server_env, "work-pool", "create", "gpu", "--type", "process")
    run(server_env, "--no-prompt", "deploy", "--name", "review")
    # One worker that takes one run at a time: both review runs reaching their form proves
    # that a suspended run gives its slot back.
    worker_env = server_env | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    worker_log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", "gpu", "--limit", "1"],
        env=worker_env, cwd=REPO, stdout=worker_log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    store = Store(tmp_path / "artifacts")
    try:
        held = subprocess.run(
            [sys.executable, "-m", "vidflow.cli", "run"], env=server_env, cwd=tmp_path,
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert held.returncode == 1, held.stdout[-2000:] + held.stderr[-3000:]
        records = {r.job_id: r for r in ReviewBook(store).records()}
        assert set(records) == set(HELD) and all(r.pending for r in records.values())
        assert not (tmp_path / "artifacts" / "published").exists()

        with (
            temporary_settings({PREFECT_API_URL: server_env["PREFECT_API_URL"]}),
            get_client(sync_client=True) as client,
        ):
            runs = {}
            for job_id, record in records.items():
                assert record.review_run is not None
                runs[job_id] = wait_for(client, UUID(record.review_run), suspended)
            for flow_run in runs.values():
                assert flow_run.state.name == "Suspended"
                form = form_of(client, flow_run)
                job_id = {r.job_hash: j for j, r in records.items()}[
                    flow_run.parameters["job_hash"]
                ]
                assert HELD[job_id] in form and "**Why**" in form

            # The form's rules hold on the server: no reason, no decision.
            with pytest.raises(RuntimeError, match="Cannot resume"):
                resume_flow_run(
                    runs["rifle"].id,
                    run_input={"decision": "reject", "reason": "", "reviewer": "Bo"},
                )
            assert suspended(client.read_flow_run(runs["rifle"].id))
            resume_flow_run(
                runs["press"].id,
                run_input={"decision": "approve", "reason": "satire desk", "reviewer": "Ann"},
            )
            resume_flow_run(
                runs["rifle"].id,
                run_input={"decision": "reject", "reason": "weapon how-to", "reviewer": "Bo"},
            )
            # A decision on the command line ends the run that waits for the same job.
            cli = subprocess.run(
                [sys.executable, "-m", "vidflow.cli", "review", "reject", "hats",
                 "--reason", "no politicians", "--reviewer", "Cy"],
                env=server_env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                check=False,
            )  # fmt: skip
            assert cli.returncode == 0, cli.stderr[-2000:]
            hats = client.read_flow_run(runs.pop("hats").id)
            assert hats.state.type == StateType.CANCELLED and "Cy" in hats.state.message
            for flow_run in runs.values():
                final = wait_for(
                    client, flow_run.id, lambda r: r.state is not None and r.state.is_final()
                )
                assert final.state.type == StateType.COMPLETED, final.state

            # The approved prompt was made on the worker and quarantined: it waits again,
            # with frames of the video in its form, until a moderator releases it.
            output = ReviewBook(store).get(records["press"].job_hash, "output")
            assert output is not None and output.pending and output.review_run is not None
            assert not (tmp_path / "artifacts" / "published").exists()
            waiting = wait_for(client, UUID(output.review_run), suspended)
            form = form_of(client, waiting)
            assert "video quarantined" in form and form.count("data:image/jpeg;base64,") == 4
            resume_flow_run(
                waiting.id,
                run_input={"decision": "approve", "reason": "noise only", "reviewer": "Di"},
            )
            final = wait_for(client, waiting.id, lambda r: r.state.is_final())
            assert final.state.type == StateType.COMPLETED, final.state
    finally:
        stop(worker)
        worker_log.close()

    published = tmp_path / "artifacts" / "published"
    manifest = Manifest.model_validate_json((published / "press.json").read_text())
    assert manifest.status == "published" and (published / "press.mp4").stat().st_size > 0
    prompt_review, output_review = manifest.reviews
    assert prompt_review["decision"]["reviewer"] == "Ann"
    assert prompt_review["decision"]["via"] == f"prefect flow run {runs['press'].id}"
    assert output_review["stage"] == "output" and output_review["decision"]["reviewer"] == "Di"
    assert not list((tmp_path / "artifacts" / "quarantine").glob("*.mp4"))
    rejected = ReviewBook(store).get(records["rifle"].job_hash, "prompt")
    assert rejected is not None and rejected.rejected and rejected.decision.reviewer == "Bo"
    assert not (published / "rifle.mp4").exists()
    events = [(e.job_id, e.event) for e in ReviewBook(store).audit()]
    assert ("press", "approved") in events and ("rifle", "rejected") in events
