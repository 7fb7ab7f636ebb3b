"""Session-wide fixtures: one cache (so the tiny model is built once), isolated settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from vidflow.settings import get_settings


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vidflow-cache")


@pytest.fixture(scope="session")
def tiny_model_dir(session_cache: Path) -> Path:
    from generation.tiny import ensure_tiny_model

    return ensure_tiny_model(session_cache)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect database and server for every test that runs a flow."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def vidflow_env(
    tmp_path: Path, session_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Settings pointing at a fresh prompts folder and store; the model cache is shared."""
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    monkeypatch.setenv("VIDFLOW_PROMPTS_DIR", str(prompts))
    monkeypatch.setenv("VIDFLOW_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("VIDFLOW_CACHE_DIR", str(session_cache))
    for name in list(os.environ):
        if name.startswith("VIDFLOW_") and name not in {
            "VIDFLOW_PROMPTS_DIR",
            "VIDFLOW_ARTIFACTS_DIR",
            "VIDFLOW_CACHE_DIR",
        }:
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
