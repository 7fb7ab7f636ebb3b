"""Watermark CPU cost per video: embed every frame, then decode as `vidflow verify` does.

    python -m provenance.bench.watermark_cost --frames 81 --width 832 --height 480 --out wm-cost.json

Needs numpy, opencv-python(-headless) and pydantic only. For each worker count,
embeds the video on threads (as `embed_video` does) and on a process pool started for the
video (the alternative, for comparison). Decoding, on as many threads (an average of every
frame's luma, then the alignment search), reads the marked video (found on the first
reading) and the unmarked one (every reading tried: the most a decode costs); it does not
include ffmpeg's decoding of the file. "total" is embed + decode of the marked video (the
issue's measure); "stamp" is what the flow's stamp stage pays: embed + the strength
read-back (one reading at the whole frame, no search). Each figure is the median of
--repeats runs. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from provenance.watermark import FrameWatermarker, embed_video, mark_strength, read_video
from vidflow.settings import affinity_cores

PAYLOAD = "c0ffee42"


def footage(frames: int, width: int, height: int, seed: int = 0) -> np.ndarray[Any, Any]:
    """A slow pan across smooth colour noise with edges: texture in every block, like video."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (height // 8, (width + frames) // 8, 3)).astype(np.float32)
    canvas = cv2.resize(coarse, ((width + frames), height), interpolation=cv2.INTER_CUBIC)
    canvas[:, ::97] = 255  # thin bright lines: hard edges for the DCT
    canvas = np.clip(canvas, 0, 255).astype(np.uint8)
    return np.stack([canvas[:, t : t + width] for t in range(frames)])


def _embed_chunk(frames: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    marker = FrameWatermarker(PAYLOAD)
    return np.stack([marker.embed(frame) for frame in frames])


def embed_processes(frames: np.ndarray[Any, Any], workers: int) -> np.ndarray[Any, Any]:
    """The process-pool alternative: one contiguous chunk of frames per worker."""
    with ProcessPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(_embed_chunk, np.array_split(frames, workers))))


def _median_s(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def worker_counts(most: int) -> list[int]:
    counts = [1]
    while counts[-1] * 2 < most:
        counts.append(counts[-1] * 2)
    return counts + [most] if most > 1 else counts


def run(frames: int, width: int, height: int, repeats: int, workers: list[int]) -> dict[str, Any]:
    video = footage(frames, width, height)
    marked = embed_video(video, PAYLOAD, workers=1)  # also warms caches up
    assert read_video(marked).payload == PAYLOAD
    rows = []
    for count in workers:
        threads_s = _median_s(partial(embed_video, video, PAYLOAD, count), repeats)
        processes_s = _median_s(partial(embed_processes, video, count), repeats)
        decode_s = _median_s(partial(read_video, marked, count), repeats)
        unmarked_s = _median_s(partial(read_video, video, count), repeats)
        strength_s = _median_s(partial(mark_strength, marked, PAYLOAD, count), repeats)
        rows.append(
            {
                "workers": count,
                "embed_threads_ms_per_frame": 1000 * threads_s / frames,
                "embed_processes_ms_per_frame": 1000 * processes_s / frames,
                "decode_ms_per_frame": 1000 * decode_s / frames,
                "decode_unmarked_s": unmarked_s,
                "strength_s": strength_s,
                "total_s": threads_s + decode_s,
                "stamp_s": threads_s + strength_s,
            }
        )
    return {
        "frames": frames,
        "width": width,
        "height": height,
        "frames_decoded": frames,
        "repeats": repeats,
        "cpu_cores": affinity_cores(),
        "cpu": platform.processor() or platform.machine(),
        "opencv_threads": cv2.getNumThreads(),
        "rows": rows,
        "date": time.strftime("%Y-%m-%d"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--workers", type=int, nargs="*", help="worker counts (default: 1, 2, 4, ... cores)"
    )
    parser.add_argument(
        "--opencv-threads",
        type=int,
        help="OpenCV's process-wide thread count for the run (default: OpenCV's own, every "
        "core; the stamp sets VIDFLOW_CPU_THREADS)",
    )
    parser.add_argument("--out", type=Path, default=Path("watermark-cost.json"))
    args = parser.parse_args()
    if args.opencv_threads is not None:
        cv2.setNumThreads(args.opencv_threads)
    workers = args.workers or worker_counts(affinity_cores())
    result = run(args.frames, args.width, args.height, args.repeats, workers)
    args.out.write_text(json.dumps(result, indent=2))
    print(
        f"\n{args.frames} frames of {args.width}x{args.height}, {result['frames_decoded']} "
        f"decoded; {result['cpu_cores']} cores ({os.cpu_count()} in the machine); median of "
        f"{args.repeats}"
    )
    print(
        f"{'workers':>7} {'embed ms/frame':>14} {'(processes)':>11} {'decode ms/frame':>15} "
        f"{'unmarked s':>10} {'total s/video':>13} {'stamp s/video':>13}"
    )
    for row in result["rows"]:
        print(
            f"{row['workers']:7d} {row['embed_threads_ms_per_frame']:14.1f} "
            f"{row['embed_processes_ms_per_frame']:11.1f} {row['decode_ms_per_frame']:15.1f} "
            f"{row['decode_unmarked_s']:10.2f} {row['total_s']:13.2f} {row['stamp_s']:13.2f}"
        )


if __name__ == "__main__":
    main()
