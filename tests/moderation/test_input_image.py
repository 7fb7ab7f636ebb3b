"""Input images of image-to-video jobs are scored before any GPU work, as output frames are.

No explicit image may be put in a repository, so the flagged image is built: a frame of
plain skin colour, which Open-NSFW scores 0.21 (a photo from scikit-image scores 0.01), is
flagged under a policy whose threshold is 0.1; NudeNet's path is checked the same way with
a label it does find in a clean photo (a face). What is tested is the blocking path: the
scores are the real detectors' on real images, the threshold is the policy's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from moderation.input_image import UNREADABLE, check_input_images
from moderation.policy import load_policy
from moderation.prompt_filter import Verdict
from moderation.safety import NSFW, NUDITY, SafetyScorer

MODEL = "ViT-S-32"  # the smallest open_clip config: random weights, recorded, never deciding


def allowed() -> Verdict:
    return Verdict(action="allow", normalized_text="a quiet street")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from skimage import data

    folder = tmp_path_factory.mktemp("images")
    out = {
        "clean": folder / "coffee.png",
        "skin": folder / "skin.png",
        "face": folder / "astronaut.png",
        "broken": folder / "broken.png",
    }
    Image.fromarray(data.coffee()).save(out["clean"])
    Image.fromarray(np.full((512, 512, 3), (224, 172, 140), np.uint8)).save(out["skin"])
    Image.fromarray(data.astronaut()).save(out["face"])
    out["broken"].write_bytes(b"not a png at all")
    return out


@pytest.fixture(scope="module")
def shared_scorer() -> SafetyScorer:
    return SafetyScorer(load_policy(), model_name=MODEL, frames=1)


@pytest.fixture
def scorer(shared_scorer: SafetyScorer) -> Iterator[SafetyScorer]:
    """The scorer under a policy whose Open-NSFW threshold is 0.1 (read at scoring time)."""
    policy = load_policy()
    policy.open_nsfw.threshold = 0.1
    shared_scorer.policy = policy
    yield shared_scorer
    shared_scorer.policy = load_policy()


def test_the_shipped_threshold_passes_both_test_images(
    shared_scorer: SafetyScorer, images: dict[str, Path]
) -> None:
    verdicts = check_input_images(
        [str(images["clean"]), str(images["skin"])], [allowed(), allowed()], lambda: shared_scorer
    )
    assert [v.action for v in verdicts] == ["allow", "allow"]


def test_a_flagged_image_blocks_its_job_and_the_verdict_names_the_file(
    scorer: SafetyScorer, images: dict[str, Path]
) -> None:
    clean, skin = str(images["clean"]), str(images["skin"])
    verdicts = check_input_images([clean, skin, None], [allowed()] * 3, lambda: scorer)
    assert [v.action for v in verdicts] == ["allow", "block", "allow"]
    blocked = verdicts[1]
    assert blocked.category == NSFW and skin in (blocked.rule or "")
    (reason,) = [r for r in blocked.reasons if r.field == "image"]
    assert reason.score >= 0.1 and reason.rule.startswith(f"image {skin}: nsfw")
    assert verdicts[0] == allowed() and verdicts[2] == allowed()


def test_nudenet_blocks_through_its_labels_too(
    scorer: SafetyScorer, images: dict[str, Path]
) -> None:
    scorer.policy.open_nsfw.threshold = 1.0  # Open-NSFW never flags here
    scorer.policy.nudity.labels = ["FACE_FEMALE"]  # NudeNet finds this label in the photo
    (verdict,) = check_input_images([str(images["face"])], [allowed()], lambda: scorer)
    assert verdict.action == "block" and verdict.category == NUDITY
    assert str(images["face"]) in (verdict.rule or "")


def test_an_unreadable_image_blocks_its_job_naming_the_file(
    scorer: SafetyScorer, images: dict[str, Path]
) -> None:
    (verdict,) = check_input_images([str(images["broken"])], [allowed()], lambda: scorer)
    assert verdict.action == "block" and verdict.category == UNREADABLE
    assert str(images["broken"]) in (verdict.rule or "")


def test_no_scorer_is_built_when_no_job_has_an_image() -> None:
    def fail() -> SafetyScorer:
        raise AssertionError("built a scorer for text-only jobs")

    assert check_input_images([None, None], [allowed(), allowed()], fail) == [allowed()] * 2


def test_a_blocked_prompt_stays_blocked_and_gains_the_image_reason(
    scorer: SafetyScorer, images: dict[str, Path]
) -> None:
    blocked = Verdict(action="block", category="violence", normalized_text="gore")
    (verdict,) = check_input_images([str(images["skin"])], [blocked], lambda: scorer)
    assert verdict.action == "block" and {r.field for r in verdict.reasons} == {"image"}


def test_output_frames_are_scored_by_open_nsfw_as_well(
    scorer: SafetyScorer, images: dict[str, Path]
) -> None:
    frames = np.asarray(Image.open(images["skin"]).convert("RGB"))[None]
    report = scorer.score(frames)
    assert [d.name for d in report.detectors] == ["clip", "nudenet", "open-nsfw"]
    assert report.flagged_categories == [NSFW] and report.thresholds[NSFW] == 0.1
