"""The visible label: drawn where the style says, found by verify, absent from clean footage."""

# Fixtures are imported from provenance_fixtures and named again as test arguments.
# ruff: noqa: F811

from __future__ import annotations

import numpy as np
import pytest
from provenance_fixtures import clip  # noqa: F401

from provenance.label import LabelStyle, draw_label, label_score


def test_label_is_drawn_and_detected(clip: np.ndarray) -> None:
    style = LabelStyle()
    labelled = draw_label(clip, style)
    assert label_score(labelled, style) > 0.9 and label_score(clip, style) < 0.5
    changed = np.any(labelled != clip, axis=(0, 3))
    rows, cols = np.nonzero(changed)
    assert rows.min() > clip.shape[1] // 2 and cols.min() > clip.shape[2] // 2  # bottom right


@pytest.mark.parametrize("corner", ["top-left", "top-right", "bottom-left"])
def test_label_goes_to_the_corner_asked_for(clip: np.ndarray, corner: str) -> None:
    style = LabelStyle(corner=corner)  # type: ignore[arg-type]
    changed = np.any(draw_label(clip[:2], style) != clip[:2], axis=(0, 3))
    rows, cols = np.nonzero(changed)
    half_h, half_w = clip.shape[1] // 2, clip.shape[2] // 2
    assert (rows.max() < half_h) == corner.startswith("top")
    assert (cols.max() < half_w) == corner.endswith("left")


def test_label_text_and_size_follow_the_style(clip: np.ndarray) -> None:
    small = np.any(draw_label(clip[:1], LabelStyle(height_share=0.05)) != clip[:1], axis=(0, 3))
    large = np.any(draw_label(clip[:1], LabelStyle(height_share=0.1)) != clip[:1], axis=(0, 3))
    assert large.sum() > 2 * small.sum()
    other = LabelStyle(text="Synthetic")
    assert label_score(draw_label(clip, other), other) > 0.9
