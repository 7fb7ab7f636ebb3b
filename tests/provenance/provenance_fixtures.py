"""Footage and stamped files shared by the provenance tests (watermark, label, C2PA, verify).

Import the fixtures by name into a test module; module scope keeps each one built once per
module that uses it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from provenance.bench.watermark_robustness import animate, sample_images
from provenance.stamp import ProvenanceReport, Stamper
from provenance.watermark import embed_video
from vidflow.settings import Settings
from vidflow.spec import Job, JobSpec

PAYLOAD = "c0ffee42"


def make_job() -> Job:
    """A tiny-preset job, resolved the way the flow resolves it."""
    from generation.presets import resolve_job

    return resolve_job(JobSpec(id="clip", prompt="a pan across a photo"), "clip.yaml", "tiny")


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """33 frames of 256x256: a pan and zoom across a photograph."""
    return animate(sample_images()[0], seed=3)


@pytest.fixture(scope="module")
def marked(clip: np.ndarray) -> np.ndarray:
    return embed_video(clip, PAYLOAD)


@pytest.fixture(scope="module")
def noise_clip() -> np.ndarray:
    """Like the tiny preset's random-weight output: smooth noise, a new pattern each frame."""
    rng = np.random.default_rng(0)
    coarse = rng.uniform(0, 255, (17, 64, 64, 3)).astype(np.float32)
    frames = [cv2.resize(f, (256, 256), interpolation=cv2.INTER_CUBIC) for f in coarse]
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def stamped(
    clip: np.ndarray, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, ProvenanceReport]:
    """A published-style mp4: watermark, label, H.264, signed with the development cert."""
    out = tmp_path_factory.mktemp("out") / "clip.mp4"
    return out, Stamper(settings).stamp(clip, 16, out, make_job())
