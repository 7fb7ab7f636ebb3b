"""Input images of image-to-video jobs: checked before any GPU work, as output frames are.

An unsafe image in is an unsafe video out, whatever the prompt says. The image of each job
(its `image:` field, resolved to a path by `generation.presets.resolve_job`) is scored by
the same `SafetyScorer` as the frames of a finished video (NudeNet, Open-NSFW, and CLIP
where calibrated); a flagged image, or one that cannot be read, blocks its job with a
verdict that names the file. Each distinct file is scored once per batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from moderation.prompt_filter import Reason, Verdict

if TYPE_CHECKING:
    # torch comes with these: a shard's flow imports this module, and torch is ~1.4 s of
    # its start on a small CPU, before the flow run is even Running.
    from moderation.safety import SafetyReport, SafetyScorer

logger = logging.getLogger(__name__)

UNREADABLE = "unreadable-image"


def read_image(path: Path) -> np.ndarray:
    """The image as uint8 RGB [1, H, W, 3]: a one-frame video for the scorer."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))[None]


def image_reasons(path: str, report: SafetyReport | None, error: str = "") -> list[Reason]:
    """What blocks a job because of its image: each flagged category, or the read error."""
    if report is None:
        return [Reason(category=UNREADABLE, rule=f"image {path}: {error}", score=1.0,
                       field="image", action="block")]  # fmt: skip
    return [
        Reason(
            category=category,
            rule=f"image {path}: {category} {report.scores[category]:.3f} >= "
            f"{report.thresholds[category]:.3f}",
            score=report.scores[category],
            field="image",
            action="block",
        )
        for category in report.flagged_categories
    ]


def check_input_images(
    images: Sequence[str | None],
    verdicts: Sequence[Verdict],
    scorer: Callable[[], SafetyScorer],
) -> list[Verdict]:
    """The verdicts, with each job whose input image is flagged turned into a block.

    `images[i]` is job i's image path (None: a text-to-video job). `scorer` builds the
    scorer, only when some job has an image.
    """
    paths = {p for p in images if p}
    if not paths:
        return list(verdicts)
    built = scorer()
    found: dict[str, list[Reason]] = {}
    for path in sorted(paths):
        try:
            frames = read_image(Path(path))
        # PIL: UnidentifiedImageError is an OSError; a decompression bomb is neither.
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            found[path] = image_reasons(path, None, f"cannot be read ({exc})")
            continue
        report = built.score(frames)
        found[path] = image_reasons(path, report)
        logger.info("input image %s: %s", path, report.scores)
    out = []
    for image, verdict in zip(images, verdicts, strict=True):
        reasons = found.get(image or "", [])
        if not reasons:
            out.append(verdict)
            continue
        top = max(reasons, key=lambda r: r.score)
        out.append(
            verdict.model_copy(
                update={
                    "action": "block",
                    "category": top.category,
                    "rule": top.rule,
                    "score": top.score,
                    "reasons": [*reasons, *verdict.reasons],
                }
            )
        )
    return out
