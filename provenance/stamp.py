"""Stamp a generated video as AI-made: visible label, invisible watermark, signed C2PA.

The mp4 is encoded and signed under temporary names beside `out_path` and moved into place
only when complete: a crash never leaves a half-written or unsigned video there.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import cv2
import imageio_ffmpeg
import numpy as np
from pydantic import BaseModel, Field

from provenance.c2pa_sign import Mp4Signer, load_credentials, manifest_definition
from provenance.label import LabelStyle, draw_label
from provenance.watermark import (
    METHOD,
    PAYLOAD_BITS,
    WEAK_MARK_Z,
    embed_video,
    mark_strength,
    payload_id,
)
from vidflow.settings import Settings
from vidflow.spec import Job

logger = logging.getLogger(__name__)

# High quality for the published master; platforms re-encode it anyway (see the benchmark).
ENCODE_CRF = 18


class WatermarkInfo(BaseModel):
    """The invisible watermark embedded in every frame."""

    method: str = Field(description="Watermark method (provenance.watermark.METHOD).")
    payload: str = Field(description="Job identifier carried by every frame (hex).")
    bits: int = Field(description="Bits embedded: the identifier plus its check code.")
    strength: float = Field(
        0.0,
        description="Mean z of the coded bits read back from the marked frames before "
        f"encoding (provenance.watermark.mark_strength); under {WEAK_MARK_Z} the mark may "
        "not outlive strong re-encoding.",
    )
    warning: str | None = Field(None, description="Why this mark may not be found later.")


class C2paInfo(BaseModel):
    """The C2PA manifest the mp4 was signed with."""

    signed: bool = Field(description="A signed manifest is embedded in the published mp4.")
    development_certificate: bool = Field(
        description="Signed with vidflow's self-made development certificate: proves nothing "
        "to anyone else."
    )
    signer: str = Field(description="Subject of the signing certificate.")
    claim_generator: str = Field("vidflow", description="Software named as the claim generator.")


class ProvenanceReport(BaseModel):
    """What `Stamper.stamp` put on a video, for the manifest."""

    watermark: WatermarkInfo
    label: str | None = Field(description="Visible label text; None when labelling is off.")
    c2pa: C2paInfo
    timings: dict[str, float] = Field(
        description="Seconds per step: label_s, watermark_s, encode_s, sign_s."
    )


def encode_h264(
    frames: np.ndarray[Any, Any], fps: int, path: Path, threads: int | None = None
) -> None:
    """Browser-playable H.264 (yuv420p, moov atom first) through imageio-ffmpeg's ffmpeg.

    threads: x264's and the pixel-format conversion's threads, the worker's CPU budget
    (None: ffmpeg sizes both from every core of the host).
    """
    _, height, width, _ = frames.shape
    limit = [] if threads is None else ["-threads", str(threads), "-filter_threads", str(threads)]
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        fps=fps,
        codec="libx264",
        pix_fmt_out="yuv420p",
        macro_block_size=16,
        output_params=["-crf", str(ENCODE_CRF), "-movflags", "+faststart", *limit],
    )
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()


class Stamper:
    """Built once per batch: the label style, the C2PA signer and the CPU budget.

    `label_style` sets the label's corner, size and opacity; its text is `settings.label_text`.
    The watermark's threads, OpenCV's and ffmpeg's stay within `settings.cpu_budget()`.
    """

    def __init__(self, settings: Settings, label_style: LabelStyle | None = None) -> None:
        self.threads = settings.cpu_budget()
        cv2.setNumThreads(self.threads)  # process-wide: the watermark's resizes and blurs
        style = (label_style or LabelStyle()).model_copy(update={"text": settings.label_text})
        self.label = style if settings.label_enabled else None
        self.credentials = load_credentials(settings)
        self.signer = Mp4Signer(self.credentials)

    def stamp(
        self, frames: np.ndarray[Any, Any], fps: int, out_path: Path, job: Job
    ) -> ProvenanceReport:
        timings: dict[str, float] = {}
        mark = time.perf_counter()
        identifier = payload_id(job.content_hash)

        # 1. Visible label first, so that the invisible mark covers the final pixels (a
        # label drawn over the mark would erase it under the label).
        stamped = np.asarray(frames)
        if self.label is not None:
            stamped = draw_label(stamped, self.label)
        timings["label_s"] = time.perf_counter() - mark

        # 2. Invisible watermark in every frame.
        mark = time.perf_counter()
        stamped = embed_video(stamped, identifier, workers=self.threads)
        strength = mark_strength(stamped, identifier, workers=self.threads)
        warning = None
        if strength < WEAK_MARK_Z:
            # Some footage (near-black, flat, 1-pixel noise) cannot take a readable mark
            # within the quality limits: say so rather than publish a silent weak mark.
            warning = (
                f"weak invisible watermark (strength {strength:.1f}, under {WEAK_MARK_Z}): "
                "this footage takes little mark within the quality limits; platform "
                "re-encoding may remove it (the C2PA manifest and label still say AI-made)"
            )
            logger.warning("%s: %s", job.id, warning)
        timings["watermark_s"] = time.perf_counter() - mark

        # 3. Encode, 4. sign, 5. move into place.
        mark = time.perf_counter()
        out_path.parent.mkdir(parents=True, exist_ok=True)
        unsigned = out_path.with_name(f".{out_path.name}.unsigned.mp4")
        signed = out_path.with_name(f".{out_path.name}.signed.mp4")
        try:
            encode_h264(stamped, fps, unsigned, self.threads)
            timings["encode_s"] = time.perf_counter() - mark
            mark = time.perf_counter()
            claims = {
                "job_hash": job.content_hash,
                "watermark_payload": identifier,
                "model_id": job.model_id,
                "model_revision": job.model_revision,
                "preset": job.preset,
                "development_certificate": self.credentials.development,
            }
            definition = manifest_definition(out_path.name, job.model_id, claims)
            self.signer.sign(unsigned, signed, definition)
            os.replace(signed, out_path)
            timings["sign_s"] = time.perf_counter() - mark
        finally:
            unsigned.unlink(missing_ok=True)
            signed.unlink(missing_ok=True)
        return ProvenanceReport(
            watermark=WatermarkInfo(
                method=METHOD,
                payload=identifier,
                bits=PAYLOAD_BITS,
                strength=round(strength, 2),
                warning=warning,
            ),
            label=self.label.text if self.label else None,
            c2pa=C2paInfo(
                signed=True,
                development_certificate=self.credentials.development,
                signer=self.credentials.subject,
            ),
            timings={k: round(v, 4) for k, v in timings.items()},
        )
