"""Output safety: score frames sampled across a video, before anything is published.

Two detectors. open_clip zero-shot, in the style of the Stable Diffusion safety checker:
the cosine similarity of each frame to each policy concept, against that concept's
threshold. And NudeNet, whose ONNX detector ships inside its pip package. CLIP thresholds
mean something only for real weights: with random weights (no checkpoint available offline)
its scores are recorded but cannot quarantine (`calibrated: false`); NudeNet still decides.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, Field

from moderation.policy import Policy, load_policy
from vidflow.settings import Settings

logger = logging.getLogger(__name__)

NUDITY = "nudity"


class SafetyReport(BaseModel):
    """Per-category scores of one video (max over sampled frames) and the decision."""

    flagged: bool
    flagged_categories: list[str] = Field(default_factory=list)
    calibrated: bool = Field(description="False when CLIP has random weights.")
    scores: dict[str, float] = Field(description="Category -> max score over frames.")
    thresholds: dict[str, float] = Field(description="Category -> threshold used.")
    clip_model: str
    clip_pretrained: str | None
    detector: str = "nudenet"
    frames_scored: int
    frame_indices: list[int]
    seconds: float


def sample_indices(num_frames: int, count: int) -> list[int]:
    """First, last and evenly between: every part of the video is looked at."""
    if num_frames <= 0:
        return []
    spread = np.linspace(0, num_frames - 1, min(count, num_frames)).round()
    return sorted({int(i) for i in spread})


class SafetyScorer:
    """Built once per batch: CLIP, its concept embeddings, and the NSFW detector."""

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        model_name: str = "ViT-B-32",
        pretrained: str | None = None,
        frames: int = 8,
    ) -> None:
        import open_clip
        from nudenet import NudeDetector

        self.policy = policy or load_policy()
        self.model_name = model_name
        self.pretrained = pretrained
        self.frames = frames
        self.calibrated = pretrained is not None
        if pretrained is not None and not Path(pretrained).is_file():
            logger.info("open_clip pretrained tag %s must already be cached locally", pretrained)
        model, _, preprocess = open_clip.create_model_and_transforms(
            model_name, pretrained=pretrained
        )
        self.model = model.eval()
        self.preprocess = preprocess
        self.concepts: list[tuple[str, float]] = [
            (name, concept.threshold)
            for name, category in self.policy.categories.items()
            for concept in category.concepts
        ]
        texts = [
            concept.text
            for category in self.policy.categories.values()
            for concept in category.concepts
        ]
        tokenizer = open_clip.get_tokenizer(model_name)
        with torch.inference_mode():
            embeddings = self.model.encode_text(tokenizer(texts)) if texts else torch.empty(0)
        self.concept_embeddings = torch.nn.functional.normalize(embeddings.float(), dim=-1)
        self.detector = NudeDetector()

    @classmethod
    def from_settings(cls, settings: Settings) -> SafetyScorer:
        return cls(
            load_policy(settings.policy_path),
            model_name=settings.safety_model,
            pretrained=settings.safety_pretrained,
            frames=settings.safety_frames,
        )

    def _clip_scores(self, frames: list[np.ndarray]) -> dict[str, float]:
        from PIL import Image

        if not self.concepts:
            return {}
        batch = torch.stack([self.preprocess(Image.fromarray(f)) for f in frames])
        with torch.inference_mode():
            images = torch.nn.functional.normalize(self.model.encode_image(batch).float(), dim=-1)
        similarity = images @ self.concept_embeddings.T  # [frames, concepts]
        best = similarity.max(dim=0).values.tolist()
        scores: dict[str, float] = {}
        for (category, _), value in zip(self.concepts, best, strict=True):
            scores[category] = max(scores.get(category, -1.0), round(float(value), 4))
        return scores

    def _nudity_score(self, frames: list[np.ndarray]) -> float:
        labels = set(self.policy.nudity.labels)
        best = 0.0
        for frame in frames:
            # NudeNet reads OpenCV's BGR order.
            for detection in self.detector.detect(np.ascontiguousarray(frame[:, :, ::-1])):
                if detection["class"] in labels:
                    best = max(best, float(detection["score"]))
        return round(best, 4)

    def score(self, video: np.ndarray[Any, Any]) -> SafetyReport:
        started = time.perf_counter()
        indices = sample_indices(len(video), self.frames)
        frames = [np.asarray(video[i]) for i in indices]
        scores = self._clip_scores(frames)
        thresholds: dict[str, float] = {}
        for category, threshold in self.concepts:
            thresholds[category] = min(thresholds.get(category, 1.0), threshold)
        flagged = [c for c, s in scores.items() if s >= thresholds[c]] if self.calibrated else []
        scores[NUDITY] = self._nudity_score(frames)
        thresholds[NUDITY] = self.policy.nudity.threshold
        if scores[NUDITY] >= thresholds[NUDITY]:
            flagged.append(NUDITY)
        return SafetyReport(
            flagged=bool(flagged),
            flagged_categories=flagged,
            calibrated=self.calibrated,
            scores=scores,
            thresholds=thresholds,
            clip_model=self.model_name,
            clip_pretrained=self.pretrained,
            frames_scored=len(frames),
            frame_indices=indices,
            seconds=round(time.perf_counter() - started, 4),
        )
