"""The watermark cost benchmark: its worker ladder and its process-pool path."""

from __future__ import annotations

import numpy as np

from provenance.bench.watermark_cost import PAYLOAD, embed_processes, footage, worker_counts
from provenance.watermark import embed_video


def test_worker_counts_double_up_to_every_core() -> None:
    assert worker_counts(1) == [1]
    assert worker_counts(2) == [1, 2]
    assert worker_counts(16) == [1, 2, 4, 8, 16]
    assert worker_counts(12) == [1, 2, 4, 8, 12]


def test_process_pool_marks_frames_as_the_threads_do() -> None:
    video = footage(6, 256, 256)
    assert video.shape == (6, 256, 256, 3) and not np.array_equal(video[0], video[1])
    assert np.array_equal(embed_processes(video, 2), embed_video(video, PAYLOAD, workers=2))
