"""Watermark robustness: mark natural-looking clips, attack them, count detections.

    python -m provenance.bench.watermark_robustness --videos 20 --clean 200 --out wm.json
    python -m provenance.bench.watermark_robustness --footage noise --out wm-noise.json

Footage: scikit-image's sample photographs animated with pans and zooms (real texture and
edges, not flat colours), or noise-like clips like the tiny preset's random-weight output.
Each marked clip goes through every attack; each unmarked clip is H.264-encoded and read
once, to count false detections. The CPU cost per frame is also timed at the Wan2.1 shape
(832x480). Prints a table last and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import imageio_ffmpeg
import numpy as np

from provenance.watermark import (
    DECODE_FRAMES,
    decode_frame_bits,
    embed_video,
    payload_bits,
    read_video,
)

Video = np.ndarray[Any, Any]
SIZE = 256
FRAMES = 33


def sample_images() -> list[np.ndarray[Any, Any]]:
    from skimage import data

    names = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "motorcycle_left",
             "retina", "hubble_deep_field", "colorwheel", "cat"]  # fmt: skip
    images = []
    for name in names:
        loader = getattr(data, name, None)
        if loader is None:
            continue
        try:
            image = loader()
        except Exception as exc:  # noqa: BLE001 - some samples need a download; skip those
            print(f"skipping sample image {name}: {exc}")
            continue
        if image.ndim == 3 and image.shape[2] >= 3:
            images.append(np.ascontiguousarray(image[:, :, :3]))
    return images


def animate(image: np.ndarray[Any, Any], seed: int, frames: int = FRAMES) -> Video:
    """A pan and zoom across the photograph."""
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    zoom0, zoom1 = rng.uniform(0.45, 0.9, 2)
    x0, y0, x1, y1 = rng.uniform(0, 1, 4)
    out = []
    for t in np.linspace(0, 1, frames):
        zoom = zoom0 + (zoom1 - zoom0) * t
        ch, cw = int(h * zoom), int(w * zoom)
        top = int((y0 + (y1 - y0) * t) * (h - ch))
        left = int((x0 + (x1 - x0) * t) * (w - cw))
        crop = image[top : top + ch, left : left + cw]
        out.append(cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_AREA))
    return np.stack(out)


def noise(seed: int, frames: int = FRAMES) -> Video:
    """Smooth noise with a new pattern each frame, as a random-weight VAE decodes."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (frames, SIZE // 4, SIZE // 4, 3)).astype(np.float32)
    video = [cv2.resize(f, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC) for f in coarse]
    return np.clip(np.stack(video), 0, 255).astype(np.uint8)


def clips(count: int, seed: int, footage: str = "photos") -> list[Video]:
    if footage == "noise":
        return [noise(seed + i) for i in range(count)]
    images = sample_images()
    return [animate(images[i % len(images)], seed + i) for i in range(count)]


def cost_at(width: int, height: int, frames: int = 8) -> dict[str, float]:
    """Milliseconds per frame to embed, and to decode once, at one frame size."""
    image = cv2.resize(sample_images()[0], (width, height), interpolation=cv2.INTER_AREA)
    video = np.stack([image] * frames)
    started = time.perf_counter()
    marked = embed_video(video, "c0ffee42")
    embed = time.perf_counter() - started
    started = time.perf_counter()
    for frame in marked:
        decode_frame_bits(frame)
    decode = time.perf_counter() - started
    return {"embed_ms": 1000 * embed / frames, "decode_ms": 1000 * decode / frames}


def h264(video: Video, crf: int) -> Video:
    _, h, w, _ = video.shape
    fd, name = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        writer = imageio_ffmpeg.write_frames(name, (w, h), codec="libx264", pix_fmt_out="yuv420p",
                                             output_params=["-crf", str(crf)])  # fmt: skip
        writer.send(None)
        for frame in video:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
        reader = imageio_ffmpeg.read_frames(name)
        out_w, out_h = next(reader)["size"]
        return np.stack([np.frombuffer(b, np.uint8).reshape(out_h, out_w, 3) for b in reader])
    finally:
        Path(name).unlink(missing_ok=True)


def resize_half(video: Video) -> Video:
    h, w = video.shape[1:3]
    return np.stack([cv2.resize(cv2.resize(f, (w // 2, h // 2), interpolation=cv2.INTER_AREA),
                                (w, h), interpolation=cv2.INTER_LINEAR) for f in video])  # fmt: skip


def crop_10(video: Video) -> Video:
    """Cut 5% off each side (10% of width and height) and scale back to the frame size, as a
    platform's reframing to its output resolution would."""
    h, w = video.shape[1:3]
    dy, dx = h // 20, w // 20
    return np.stack([cv2.resize(f[dy : h - dy, dx : w - dx], (w, h), interpolation=cv2.INTER_LINEAR)
                     for f in video])  # fmt: skip


def brightness(factor: float) -> Callable[[Video], Video]:
    def attack(video: Video) -> Video:
        return np.clip(video.astype(np.float32) * factor, 0, 255).astype(np.uint8)

    return attack


def jpeg_frame(video: Video) -> Video:
    frame = video[len(video) // 2]
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 85])  # fmt: skip
    assert ok
    image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    assert image is not None
    decoded = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return decoded[None]


ATTACKS: dict[str, Callable[[Video], Video]] = {
    "none": lambda v: v,
    "h264 crf 18": lambda v: h264(v, 18),
    "h264 crf 23": lambda v: h264(v, 23),
    "h264 crf 28": lambda v: h264(v, 28),
    "h264 crf 35": lambda v: h264(v, 35),
    "resize 0.5x and back": lambda v: h264(resize_half(v), 23),
    "crop 10%": lambda v: h264(crop_10(v), 23),
    "brightness +20%": lambda v: h264(brightness(1.2)(v), 23),
    "brightness -20%": lambda v: h264(brightness(0.8)(v), 23),
    "two re-encodes (crf 23, 28)": lambda v: h264(h264(v, 23), 28),
    "single frame as JPEG q85": jpeg_frame,
}


def sampled(video: Video) -> Video:
    keep = np.unique(np.linspace(0, len(video) - 1, min(DECODE_FRAMES, len(video))).round())
    return video[keep.astype(int)]


def bit_accuracy(video: Video, identifier: str) -> float:
    expected = np.asarray(payload_bits(identifier))
    frames = sampled(video)
    if frames.shape[1] * frames.shape[2] < SIZE * SIZE * 0.5:
        return float("nan")
    votes = np.mean([decode_frame_bits(f) for f in frames], axis=0) >= 0.5
    return float(np.mean(votes.astype(int) == expected))


def run(videos: int, clean: int, seed: int, footage: str = "photos") -> dict[str, Any]:
    marked_rows: dict[str, dict[str, Any]] = {name: {"detected": 0, "wrong_payload": 0,
                                                     "bit_accuracy": []} for name in ATTACKS}  # fmt: skip
    embed_s = decode_s = 0.0
    embedded_frames = decoded_frames = 0
    for index, clip in enumerate(clips(videos, seed, footage)):
        identifier = f"{(seed * 7919 + index * 104729) & 0xFFFFFFFF:08x}"
        started = time.perf_counter()
        marked = embed_video(clip, identifier)
        embed_s += time.perf_counter() - started
        embedded_frames += len(clip)
        for name, attack in ATTACKS.items():
            attacked = attack(marked)
            started = time.perf_counter()
            reading = read_video(sampled(attacked))
            decode_s += time.perf_counter() - started
            decoded_frames += reading.frames_read
            row = marked_rows[name]
            row["detected"] += reading.payload == identifier
            row["wrong_payload"] += reading.found and reading.payload != identifier
            row["bit_accuracy"].append(bit_accuracy(attacked, identifier))
    false_hits = sum(
        read_video(sampled(h264(c, 23))).found for c in clips(clean, seed + 10_000, footage)
    )
    table = {
        name: {
            "detection_rate": row["detected"] / videos,
            "wrong_payload": row["wrong_payload"],
            "bit_accuracy": float(np.nanmean(row["bit_accuracy"])) if row["bit_accuracy"] else None,
        }
        for name, row in marked_rows.items()
    }
    return {
        "footage": footage,
        "videos": videos,
        "frames_per_video": FRAMES,
        "size": SIZE,
        "clean_clips": clean,
        "false_detections": int(false_hits),
        "attacks": table,
        "embed_ms_per_frame": 1000 * embed_s / max(embedded_frames, 1),
        "decode_ms_per_frame": 1000 * decode_s / max(decoded_frames, 1),
        "cost_832x480": cost_at(832, 480),
        "date": time.strftime("%Y-%m-%d"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--clean", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--footage", choices=["photos", "noise"], default="photos")
    parser.add_argument("--out", type=Path, default=Path("watermark-robustness.json"))
    args = parser.parse_args()
    result = run(args.videos, args.clean, args.seed, args.footage)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\n{args.videos} marked {args.footage} clips of {FRAMES} frames at {SIZE}x{SIZE}; "
          f"{DECODE_FRAMES} frames read per clip")  # fmt: skip
    print(f"{'attack':32} {'detected':>9} {'bit acc':>8} {'wrong id':>8}")
    for name, row in result["attacks"].items():
        bits = row["bit_accuracy"]
        print(f"{name:32} {row['detection_rate']:9.1%} "
              f"{'n/a' if bits is None or math.isnan(bits) else f'{bits:.3f}':>8} "
              f"{row['wrong_payload']:8d}")  # fmt: skip
    print(f"false detections on {args.clean} unmarked clips: {result['false_detections']}")
    print(f"CPU at {SIZE}x{SIZE}: embed {result['embed_ms_per_frame']:.1f} ms/frame, "
          f"decode {result['decode_ms_per_frame']:.1f} ms/frame (every reading tried)")  # fmt: skip
    cost = result["cost_832x480"]
    print(f"CPU at 832x480: embed {cost['embed_ms']:.1f} ms/frame, "
          f"decode {cost['decode_ms']:.1f} ms/frame (one reading)")  # fmt: skip


if __name__ == "__main__":
    main()
