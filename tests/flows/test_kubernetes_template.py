"""The Kubernetes work-pool template, checked against Prefect's own schema for that pool.

No cluster runs here: the template goes through the same code a Prefect server runs when
`prefect work-pool create --type kubernetes --base-job-template` is given it, and the same
code the kubernetes worker runs to turn it into a Job for one flow run.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from prefect.client.schemas.objects import FlowRun
from prefect.server.schemas.actions import WorkPoolCreate

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy" / "kubernetes" / "gpu-job-template.json"
worker = pytest.importorskip("prefect_kubernetes.worker", reason="pip install prefect-kubernetes")


def load() -> dict:
    return json.loads(TEMPLATE.read_text())


def test_the_server_accepts_it_as_a_kubernetes_pool_template() -> None:
    pool = WorkPoolCreate(name="gpu-k8s", type="kubernetes", base_job_template=load())
    assert pool.base_job_template["job_configuration"]["job_manifest"]["kind"] == "Job"


def test_it_keeps_every_variable_of_the_workers_default_template() -> None:
    default = worker.KubernetesWorker.get_default_base_job_template()
    ours = load()["variables"]["properties"]
    assert set(default["variables"]["properties"]) <= set(ours)
    defaults = {name: spec["default"] for name, spec in ours.items() if "default" in spec}
    variables = worker.KubernetesWorkerVariables.model_validate(defaults)
    assert variables.image == "vidflow-worker:0.1.0"


@pytest.mark.usefixtures("prefect_harness")
def test_each_flow_run_becomes_a_job_with_one_gpu_and_the_models_volume() -> None:
    config_type = worker.KubernetesWorkerJobConfiguration
    config = asyncio.run(
        config_type.from_template_and_values(load(), {"models_claim": "team-models"})
    )
    config.prepare_for_flow_run(FlowRun(id=uuid.uuid4(), flow_id=uuid.uuid4(), name="shard-0"))
    pod = config.job_manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["image"] == "vidflow-worker:0.1.0"
    assert container["volumeMounts"] == [
        {"name": "models", "mountPath": "/models", "readOnly": True}
    ]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "team-models"
    assert pod["securityContext"]["runAsNonRoot"] is True
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["HF_HUB_OFFLINE"] == "1" and env["HF_HOME"] == "/models/huggingface"
    assert container["args"][:3] == ["prefect", "flow-run", "execute"]
