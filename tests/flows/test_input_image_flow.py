"""The flow checks each image-to-video job's input image before any GPU work."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

pytestmark = pytest.mark.usefixtures("prefect_harness")

JOBS = """\
defaults: {preset: wan2.2-ti2v-5b}
jobs:
  - id: latte
    prompt: "steam rising from a cup of coffee, slow push in"
    image: images/coffee.png
  - id: skin
    prompt: "a slow pan across a warm background"
    image: images/skin.png
"""


def test_a_flagged_input_image_blocks_its_job_before_generation(
    vidflow_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skimage import data

    from flows.generate import generate_videos
    from vidflow.settings import get_settings

    prompts = vidflow_env / "prompts"
    (prompts / "images").mkdir()
    Image.fromarray(data.coffee()).save(prompts / "images" / "coffee.png")
    skin = prompts / "images" / "skin.png"
    Image.fromarray(np.full((512, 512, 3), (224, 172, 140), np.uint8)).save(skin)
    (prompts / "i2v.yaml").write_text(JOBS)
    # A policy whose Open-NSFW threshold a plain skin-coloured frame (0.21) reaches; the
    # coffee photo scores 0.01 (see tests/moderation/test_input_image.py).
    shipped = yaml.safe_load(resources.files("moderation").joinpath("policy.yaml").read_text())
    shipped["open_nsfw"]["threshold"] = 0.1
    policy = vidflow_env / "policy.yaml"
    policy.write_text(yaml.safe_dump(shipped, allow_unicode=True))
    monkeypatch.setenv("VIDFLOW_POLICY_PATH", str(policy))
    monkeypatch.setenv("VIDFLOW_SAFETY_MODEL", "ViT-S-32")
    get_settings.cache_clear()

    report = generate_videos(dry_run=True)

    assert not report.errors, report.errors
    jobs = {m.job_id: m for m in report.manifests}
    assert jobs["latte"].status == "skipped"  # allowed: a dry run generates nothing
    assert jobs["skin"].status == "blocked" and jobs["skin"].verdict is not None
    assert jobs["skin"].verdict["category"] == "nsfw"
    assert str(skin.resolve()) in jobs["skin"].verdict["rule"]
