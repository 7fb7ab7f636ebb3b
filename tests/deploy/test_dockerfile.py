"""The worker image's promises, read from deploy/Dockerfile (Docker does not run here)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "deploy" / "Dockerfile").read_text()
CONSTRAINTS = (REPO / "deploy" / "constraints.txt").read_text()


def instructions(name: str) -> list[str]:
    text = DOCKERFILE.replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(name + " ")]


def test_the_base_is_a_pinned_cuda_runtime_image() -> None:
    (base,) = [a for a in instructions("ARG") if a.startswith("CUDA_IMAGE=")]
    assert re.fullmatch(r"CUDA_IMAGE=nvidia/cuda:\d+\.\d+\.\d+-runtime-ubuntu\d+\.\d+", base)


def test_every_package_is_pinned_and_the_pins_match_the_project() -> None:
    installs = [r for r in instructions("RUN") if "pip install" in r]
    assert installs and all("-c deploy/constraints.txt" in r for r in installs)
    pins = dict(
        line.split("==", 1) for line in CONSTRAINTS.splitlines() if "==" in line and line[0] != "#"
    )
    assert all(re.fullmatch(r"[\w.+-]+", version) for version in pins.values())
    pyproject = (REPO / "pyproject.toml").read_text()
    for name in ("torch", "torchvision"):
        assert f'"{name}=={pins[name]}"' in pyproject


def test_it_runs_as_a_non_root_user_and_never_holds_model_weights() -> None:
    assert instructions("USER") == ["vidflow"]
    assert '"/models"' in instructions("VOLUME")[0]
    env = " ".join(instructions("ENV"))
    assert "HF_HOME=/models/huggingface" in env and "HF_HUB_OFFLINE=1" in env
    assert not re.search(r"huggingface-cli|snapshot_download|hf download", DOCKERFILE)
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert {".venv", "artifacts"} <= set(ignored)


def test_every_dependency_of_the_project_has_a_pin() -> None:
    """A dependency added to pyproject.toml without a pin would install unpinned in the image."""
    import tomllib

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    pins = {norm(line.split("==", 1)[0]) for line in CONSTRAINTS.splitlines() if "==" in line}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {
        norm(re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0]) for spec in project["dependencies"]
    }
    assert names - pins == set()
