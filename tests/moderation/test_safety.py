from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from moderation.policy import Concept, Policy, load_policy
from moderation.safety import SafetyReport, SafetyScorer, sample_indices
from vidflow.settings import Settings

# The smallest open_clip config that still tokenises offline with its bundled BPE vocab:
# builds in a few seconds on this CPU. The flow's default (ViT-B-32) runs the same code.
MODEL = "ViT-S-32"


def test_frames_are_sampled_first_last_and_between() -> None:
    assert sample_indices(81, 8) == [0, 11, 23, 34, 46, 57, 69, 80]
    assert sample_indices(3, 8) == [0, 1, 2]
    assert sample_indices(0, 8) == []


@pytest.fixture(scope="module")
def video() -> np.ndarray:
    return np.random.default_rng(0).integers(60, 200, (17, 224, 224, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


@pytest.fixture(scope="module")
def random_scorer(policy: Policy) -> SafetyScorer:
    return SafetyScorer(policy, model_name=MODEL, pretrained=None, frames=4)


@pytest.fixture(scope="module")
def calibrated_scorer(tmp_path_factory: pytest.TempPathFactory) -> SafetyScorer:
    """A scorer from a local checkpoint file: the path a real pretrained model takes here."""
    import open_clip

    checkpoint = tmp_path_factory.mktemp("clip") / "clip.pt"
    torch.save(open_clip.create_model(MODEL, pretrained=None).state_dict(), checkpoint)
    policy = load_policy()
    policy.categories["violence"].concepts = [Concept(text="a gory scene", threshold=1.0)]
    return SafetyScorer(policy, model_name=MODEL, pretrained=str(checkpoint), frames=2)


def test_random_clip_is_recorded_uncalibrated_and_never_quarantines(
    random_scorer: SafetyScorer, video: np.ndarray
) -> None:
    for category in random_scorer.policy.categories.values():
        for concept in category.concepts:
            concept.threshold = -1.0  # every concept "fires"...
    try:
        report = random_scorer.score(video)
    finally:
        random_scorer.policy = load_policy()
    assert report.calibrated is False and report.flagged is False  # ...but cannot decide
    assert report.frames_scored == 4 and report.frame_indices == [0, 5, 11, 16]
    assert {"violence", "sexual", "nudity"} <= set(report.scores)
    assert report.thresholds["violence"] == -1.0
    clip, nudenet, open_nsfw = report.detectors
    assert (clip.name, clip.decides, clip.model) == ("clip", False, f"{MODEL}:random")
    assert (nudenet.name, nudenet.decides, nudenet.calibrated) == ("nudenet", True, True)
    assert (open_nsfw.name, open_nsfw.decides) == ("open-nsfw", True)
    assert report.scores["nsfw"] < report.thresholds["nsfw"] == 0.8


def test_a_calibrated_checkpoint_flags_through_the_policy_threshold(
    calibrated_scorer: SafetyScorer, video: np.ndarray
) -> None:
    assert calibrated_scorer.score(video).flagged is False  # threshold 1.0: never reached
    calibrated_scorer.policy.categories["violence"].concepts[0].threshold = -1.0
    report = calibrated_scorer.score(video)
    assert report.calibrated is True and report.flagged is True
    assert report.flagged_categories == ["violence"]
    assert report.scores["violence"] >= report.thresholds["violence"] == -1.0


def test_nudity_detector_decides_on_its_own_threshold(
    random_scorer: SafetyScorer, video: np.ndarray
) -> None:
    report = random_scorer.score(video)
    assert report.scores["nudity"] < random_scorer.policy.nudity.threshold
    assert not report.flagged
    random_scorer.policy.nudity.threshold = 0.0
    try:
        forced = random_scorer.score(video)
    finally:
        random_scorer.policy = load_policy()
    assert forced.flagged and forced.flagged_categories == ["nudity"]


def test_report_json_round_trips(random_scorer: SafetyScorer, video: np.ndarray) -> None:
    report = random_scorer.score(video[:1])
    assert report.frame_indices == [0]
    assert SafetyReport.model_validate_json(report.model_dump_json()) == report


def test_scorer_is_built_from_settings(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("categories:\n  x: {action: block, terms: [a]}\n")
    settings = Settings(policy_path=policy, safety_model=MODEL, safety_frames=3)
    scorer = SafetyScorer.from_settings(settings)
    assert (scorer.model_name, scorer.pretrained, scorer.frames) == (MODEL, None, 3)
    assert scorer.policy.source == str(policy) and scorer.concepts == []


def test_every_detector_keeps_to_the_cpu_budget(policy: Policy) -> None:
    import cv2

    before = torch.get_num_threads(), cv2.getNumThreads()
    try:
        # 3: not this machine's core count, so only the setting can have made it.
        scorer = SafetyScorer(policy, model_name=MODEL, frames=2, threads=3)
        assert torch.get_num_threads() == 3 and cv2.getNumThreads() == 3
        sessions = [scorer.detector.onnx_session]
        assert scorer.open_nsfw is not None
        sessions.append(scorer.open_nsfw._session)
        for session in sessions:
            options = session.get_session_options()
            assert options.intra_op_num_threads == 3 and options.inter_op_num_threads == 1
            for pool in ("intra", "inter"):
                entry = f"session.{pool}_op.allow_spinning"
                assert options.get_session_config_entry(entry) == "0"
        # Built without their constructors, the detectors still score.
        frames = np.random.default_rng(1).integers(0, 255, (3, 96, 96, 3), dtype=np.uint8)
        assert set(scorer.score(frames).scores) >= {"nudity", "nsfw"}
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])


def test_the_budget_comes_from_the_settings(
    policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDFLOW_CPU_THREADS", "3")
    built: dict[str, object] = {}
    monkeypatch.setattr(SafetyScorer, "__init__", lambda self, *a, **kw: built.update(kw))
    SafetyScorer.from_settings(Settings())
    assert built["threads"] == 3
