"""The visible "AI-generated" label, rendered with moviepy and blended into every frame."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right"]


class LabelStyle(BaseModel):
    """How the visible label looks and where it sits."""

    text: str = Field("AI-generated", description="What the label says.")
    corner: Corner = Field("bottom-right", description="Corner of the frame it sits in.")
    height_share: float = Field(0.07, gt=0, le=0.5, description="Font size / frame height.")
    opacity: float = Field(0.9, gt=0, le=1, description="1: opaque; lower lets footage through.")
    margin_share: float = Field(0.03, ge=0, le=0.2, description="Margin / short side.")


@lru_cache(maxsize=16)
def _render(text: str, font_size: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """RGB and alpha of the text: white with a dark outline, readable on any background.

    moviepy's TextClip uses Pillow's bundled font when none is named, so no system font is
    needed.
    """
    from moviepy import TextClip

    clip = TextClip(
        text=text,
        font_size=font_size,
        color="white",
        stroke_color="black",
        stroke_width=max(1, font_size // 12),
        margin=(2, 2),
    )
    rgb = np.asarray(clip.get_frame(0), dtype=np.float32)
    alpha = np.asarray(clip.mask.get_frame(0), dtype=np.float32) if clip.mask else None
    if alpha is None:
        alpha = np.ones(rgb.shape[:2], dtype=np.float32)
    return rgb, alpha


def placement(
    style: LabelStyle, width: int, height: int
) -> tuple[int, int, np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Top-left corner, RGB and alpha of the label for a frame size."""
    font_size = max(10, round(height * style.height_share))
    rgb, alpha = _render(style.text, font_size)
    h, w = alpha.shape
    h, w = min(h, height), min(w, width)
    margin = round(min(width, height) * style.margin_share)
    top = margin if style.corner.startswith("top") else height - h - margin
    left = margin if style.corner.endswith("left") else width - w - margin
    return max(top, 0), max(left, 0), rgb[:h, :w], alpha[:h, :w]


def draw_label(frames: np.ndarray[Any, Any], style: LabelStyle) -> np.ndarray[Any, Any]:
    """A copy of uint8 RGB frames [T, H, W, 3] with the label blended in."""
    _, height, width, _ = frames.shape
    top, left, rgb, alpha = placement(style, width, height)
    h, w = alpha.shape
    out = frames.copy()
    region = out[:, top : top + h, left : left + w].astype(np.float32)
    a = (alpha * style.opacity)[None, :, :, None]
    out[:, top : top + h, left : left + w] = np.clip(
        region * (1 - a) + rgb[None] * a, 0, 255
    ).astype(np.uint8)
    return out


def label_score(frames: np.ndarray[Any, Any], style: LabelStyle) -> float:
    """Correlation of the label's light-and-dark pattern with its corner (about 1: present).

    Only the pixels the label covers count; there, white glyphs and their dark outline form
    a pattern that footage alone almost never reproduces.
    """
    _, height, width, _ = frames.shape
    top, left, rgb, alpha = placement(style, width, height)
    h, w = alpha.shape
    covered = alpha > 0.5
    if not covered.any():
        return 0.0
    luma = frames[:, top : top + h, left : left + w].astype(np.float32).mean(axis=(0, 3))
    a = rgb.mean(axis=2)[covered]
    b = luma[covered]
    a, b = a - a.mean(), b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator else 0.0
