from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from moderation.policy import Concept, load_policy
from moderation.safety import SafetyScorer, sample_indices


def test_frames_are_sampled_first_last_and_between() -> None:
    assert sample_indices(81, 8) == [0, 11, 23, 34, 46, 57, 69, 80]
    assert sample_indices(3, 8) == [0, 1, 2]
    assert sample_indices(0, 8) == []


@pytest.fixture(scope="module")
def video() -> np.ndarray:
    return np.random.default_rng(0).integers(60, 200, (17, 224, 224, 3), dtype=np.uint8)


def test_random_clip_is_recorded_uncalibrated_and_never_quarantines(video: np.ndarray) -> None:
    policy = load_policy()
    for category in policy.categories.values():
        for concept in category.concepts:
            concept.threshold = -1.0  # every concept "fires"...
    report = SafetyScorer(policy, frames=4).score(video)
    assert report.calibrated is False and report.flagged is False  # ...but cannot decide
    assert report.frames_scored == 4 and report.frame_indices == [0, 5, 11, 16]
    assert {"violence", "sexual", "nudity"} <= set(report.scores)


def test_a_calibrated_checkpoint_flags_through_the_policy_threshold(
    video: np.ndarray, tmp_path: Path
) -> None:
    import open_clip

    checkpoint = tmp_path / "clip.pt"
    torch.save(open_clip.create_model("ViT-B-32", pretrained=None).state_dict(), checkpoint)
    policy = load_policy()
    policy.categories["violence"].concepts = [Concept(text="a gory scene", threshold=-1.0)]
    report = SafetyScorer(policy, pretrained=str(checkpoint), frames=2).score(video)
    assert report.calibrated is True and report.flagged is True
    assert report.flagged_categories == ["violence"]
    policy.categories["violence"].concepts = [Concept(text="a gory scene", threshold=1.0)]
    assert SafetyScorer(policy, pretrained=str(checkpoint), frames=2).score(video).flagged is False


def test_nudity_detector_decides_on_its_own_threshold(video: np.ndarray) -> None:
    policy = load_policy()
    report = SafetyScorer(policy, frames=2).score(video)
    assert report.scores["nudity"] < policy.nudity.threshold and not report.flagged
    policy.nudity.threshold = 0.0
    forced = SafetyScorer(policy, frames=2).score(video)
    assert forced.flagged and forced.flagged_categories == ["nudity"]
