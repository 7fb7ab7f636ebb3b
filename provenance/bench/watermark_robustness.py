"""Watermark robustness: mark clips, deliver them as platforms do, read them back as verify does.

    python -m provenance.bench.watermark_robustness --videos 40 --clean 1000 --jobs 16 --out wm.json
    python -m provenance.bench.watermark_robustness --videos 4 --clean 20 --attacks "0.5x" "crop 10% tl"
    # the tiny model's clips made once where diffusers is installed, read elsewhere:
    python -m provenance.bench.watermark_robustness --videos 40 --clean 1000 --write-tiny tiny/
    python -m provenance.bench.watermark_robustness --videos 40 --clean 1000 --tiny-dir tiny/ --jobs 16
    # on N machines: --shard K N --out part-K.json for K in 0..N-1, then --merge part-*.json

Footage (a mix, at 832x480 and 1280x720, 33 frames at 16 fps): scikit-image's sample
photographs animated with pans and zooms (real texture and edges), ffmpeg's lavfi sources
(mandelbrot zooms, testsrc2, life, gradients, cellular automata) and the tiny preset's own
random-weight output, upscaled.

Each marked clip is published as vidflow publishes it (H.264 CRF 18 mp4), then every attack
runs on that file with ffmpeg, as a platform's transcoder would: scale, crop, pad, frame
rate, trim, and the platform's own encode (H.264 CRF 23 unless the attack names another
codec or CRF). The attacked file is read by `provenance.verify.read_watermark`, the reader
`vidflow verify` uses, at whatever size the attack delivered: nothing is scaled back.

Unmarked clips (short: 9 frames; lavfi sources, animated photos and the tiny model's
output at 256x256 to 1280x720) are encoded the same way and read once each, to count false
matches. Image quality (PSNR, SSIM of marked vs unmarked frames) is measured on the marked
clips before encoding. Footage that takes too little mark (the stamp's warning, see
`provenance.watermark.mark_strength`) stays in every count; a second column shows what the
other clips reach. Prints a table last and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import cache, partial
from pathlib import Path
from typing import Any

import cv2
import imageio_ffmpeg
import numpy as np

from provenance.verify import read_watermark
from provenance.watermark import FALSE_MATCH_BOUND, WEAK_MARK_Z, embed_video, mark_strength

Video = np.ndarray[Any, Any]
FRAMES = 33
FPS = 16
SIZES = ((832, 480), (1280, 720))
# The platform's encode after a geometric or temporal change.
PLATFORM_CRF = 23
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


@cache
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


def animate(
    image: np.ndarray[Any, Any], seed: int, size: tuple[int, int] = (256, 256), frames: int = FRAMES
) -> Video:
    """A pan and zoom across the photograph, at `size` (width, height)."""
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    aspect = size[0] / size[1]
    zoom0, zoom1 = rng.uniform(0.45, 0.9, 2)
    x0, y0, x1, y1 = rng.uniform(0, 1, 4)
    out = []
    for t in np.linspace(0, 1, frames):
        zoom = zoom0 + (zoom1 - zoom0) * t
        cw = min(int(w * zoom), int(h * zoom * aspect))
        ch = int(cw / aspect)
        top = int((y0 + (y1 - y0) * t) * (h - ch))
        left = int((x0 + (x1 - x0) * t) * (w - cw))
        crop = image[top : top + ch, left : left + cw]
        out.append(cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC))
    return np.stack(out)


LAVFI = ("mandelbrot", "testsrc2", "life=mold=10:ratio=0.1:death_color=#301020:life_color=#e0c080",
         "gradients=speed=0.05", "cellauto=rule=110")  # fmt: skip


def lavfi(source: str, size: tuple[int, int], frames: int, seed: int) -> Video:
    """Frames of an ffmpeg lavfi source; cellauto and life start from a seeded random state."""
    name, _, options = source.partition("=")
    options = ":".join(filter(None, [options, f"size={size[0]}x{size[1]}", f"rate={FPS}"]))
    if name in ("life", "cellauto", "gradients"):
        options += f":seed={seed}"
    if name == "cellauto":
        options += ":random_fill_ratio=0.5"
    cmd = [FFMPEG, "-v", "error", "-f", "lavfi", "-i", f"{name}={options}", "-frames:v",
           str(frames), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]  # fmt: skip
    raw = subprocess.run(cmd, check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, size[1], size[0], 3).copy()


@cache
def _tiny_pipeline() -> Any:
    from generation.tiny import build_tiny_pipeline

    return build_tiny_pipeline()


def _tiny_name(size: tuple[int, int], frames: int, seed: int) -> str:
    return f"tiny-{size[0]}x{size[1]}-{frames}f-seed{seed}.npy"


def tiny_model_clip(
    size: tuple[int, int], frames: int, seed: int, tiny_dir: Path | None = None
) -> Video:
    """The tiny preset's real pipeline output (random weights, 256x256), scaled to `size`;
    read from `tiny_dir` (written by --write-tiny) when given, so that machines without
    torch and diffusers run the same footage."""
    if tiny_dir is not None:
        return np.asarray(np.load(tiny_dir / _tiny_name(size, frames, seed)))
    import torch

    video = _tiny_pipeline()(
        prompt=f"clip {seed}",
        height=256,
        width=256,
        num_frames=frames,
        num_inference_steps=2,
        output_type="np",
        generator=torch.Generator().manual_seed(seed),
    ).frames[0]
    video = (np.clip(video, 0, 1) * 255).round().astype(np.uint8)
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_CUBIC) for f in video])


# Marked clips from the tiny model (the first ones of every run).
TINY_CLIPS = 4


def _marked_kind(index: int) -> tuple[str, tuple[int, int]]:
    """What marked clip `index` is: 'tiny', 'lavfi' or 'photo', and its size. The first
    TINY_CLIPS from the tiny model, the rest photos and lavfi sources in turn, at SIZES in
    turn."""
    size = SIZES[index % len(SIZES)]
    if index < TINY_CLIPS:
        return "tiny", size
    return ("lavfi" if (index - TINY_CLIPS) % 3 == 2 else "photo"), size


def marked_footage(index: int, seed: int, tiny_dir: Path | None = None) -> Video:
    """Marked clip `index` of a run (see _marked_kind), made on demand."""
    kind, size = _marked_kind(index)
    if kind == "tiny":
        return tiny_model_clip(size, FRAMES, seed + index, tiny_dir)
    if kind == "lavfi":
        source = LAVFI[((index - TINY_CLIPS) // 3) % len(LAVFI)]
        return lavfi(source, size, FRAMES, seed + index)
    images = sample_images()
    return animate(images[index % len(images)], seed + index, size, FRAMES)


def encode(video: Video, path: Path, crf: int = 18) -> None:
    """As vidflow publishes: H.264 yuv420p."""
    _, h, w, _ = video.shape
    cmd = [FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-r", str(FPS), "-i", "-", "-c:v", "libx264", "-crf", str(crf), "-pix_fmt", "yuv420p",
           str(path)]  # fmt: skip
    subprocess.run(cmd, input=np.ascontiguousarray(video).tobytes(), check=True)


def _crop(share: float, where: str, back: bool) -> str:
    """ffmpeg filter: keep (1 - share) of width and height at a corner or the centre."""
    keep = 1 - share
    x = {"c": f"iw*{share / 2}", "tl": "0", "tr": f"iw*{share}", "bl": "0", "br": f"iw*{share}"}
    y = {"c": f"ih*{share / 2}", "tl": "0", "tr": "0", "bl": f"ih*{share}", "br": f"ih*{share}"}
    crop = f"crop=trunc(iw*{keep}/2)*2:trunc(ih*{keep}/2)*2:{x[where]}:{y[where]}"
    return crop + (",scale={w}:{h}" if back else "")


def _fit(width: int, height: int) -> str:
    return (f"scale={width}:{height}:force_original_aspect_ratio=decrease,scale=trunc(iw/2)*2:trunc(ih/2)*2,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2")  # fmt: skip


H264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf"]
VP9 = ["-c:v", "libvpx-vp9", "-b:v", "0", "-deadline", "good", "-cpu-used", "4", "-crf"]
# name: (ffmpeg options before -i, video filter with {w}/{h} the source size, codec options)
ATTACKS: dict[str, tuple[list[str], str | None, list[str]]] = {
    "h264 crf 28": ([], None, H264 + ["28"]),
    "h264 crf 35": ([], None, H264 + ["35"]),
    "vp9 crf 35": ([], None, VP9 + ["35"]),
    "0.5x": ([], "scale=trunc(iw/4)*2:trunc(ih/4)*2", H264 + [str(PLATFORM_CRF)]),
    "0.75x": ([], "scale=trunc(iw*0.375)*2:trunc(ih*0.375)*2", H264 + [str(PLATFORM_CRF)]),
    "1.5x": ([], "scale=trunc(iw*0.75)*2:trunc(ih*0.75)*2", H264 + [str(PLATFORM_CRF)]),
    "to 1280x720": ([], "scale=1280:720", H264 + [str(PLATFORM_CRF)]),
    "to 1920x1080": ([], "scale=1920:1080", H264 + [str(PLATFORM_CRF)]),
    "into 1920x1080 (fit, bars)": ([], _fit(1920, 1080), H264 + [str(PLATFORM_CRF)]),
    "into 1080x1920 (fit, bars)": ([], _fit(1080, 1920), H264 + [str(PLATFORM_CRF)]),
    **{
        f"crop 10% {where}{' scaled back' if back else ''}": (
            [],
            _crop(0.10, where, back),
            H264 + [str(PLATFORM_CRF)],
        )
        for where in ("c", "tl", "tr", "bl", "br")
        for back in (False, True)
    },
    # A platform filling a narrower aspect ratio: the width cut, the height kept.
    "crop 20% of the width, right": (
        [],
        "crop=trunc(iw*0.4)*2:ih:iw*0.2:0",
        H264 + [str(PLATFORM_CRF)],
    ),
    "16 to 24 fps": ([], "fps=24", H264 + [str(PLATFORM_CRF)]),
    "16 to 30 fps": ([], "fps=30", H264 + [str(PLATFORM_CRF)]),
    "first second cut": (["-ss", "1"], None, H264 + [str(PLATFORM_CRF)]),
    "crop 10% tl + 0.75x + crf 28": (
        [],
        _crop(0.10, "tl", False) + ",scale=trunc(iw*0.375)*2:trunc(ih*0.375)*2",
        H264 + ["28"],
    ),
}
# Attacks held to >=95% (the rest to >=99%).
HARD = {"h264 crf 35", "crop 10% tl + 0.75x + crf 28"}


def attack(source: Path, name: str, out_dir: Path) -> Path:
    """Deliver `source` through the attack, as an ffmpeg transcode; the new file's path."""
    before, video_filter, codec = ATTACKS[name]
    reader = imageio_ffmpeg.read_frames(str(source))
    width, height = next(reader)["size"]
    reader.close()
    out = out_dir / ("attacked.webm" if "libvpx-vp9" in codec else "attacked.mp4")
    cmd = [FFMPEG, "-v", "error", "-y", *before, "-i", str(source)]
    if video_filter:
        cmd += ["-vf", video_filter.format(w=width, h=height)]
    subprocess.run(cmd + codec + [str(out)], check=True)
    return out


def quality(clean: Video, marked: Video) -> tuple[float, float]:
    """PSNR (dB, over all frames) and mean SSIM (colour, on 4 frames) of marked vs clean."""
    from skimage.metrics import structural_similarity

    mse = float(np.mean((marked.astype(np.float64) - clean) ** 2))
    psnr = 10 * np.log10(255**2 / max(mse, 1e-12))
    picks = np.linspace(0, len(clean) - 1, 4).round().astype(int)
    ssim = float(np.mean([structural_similarity(clean[i], marked[i], channel_axis=2)
                          for i in picks]))  # fmt: skip
    return psnr, ssim


CLEAN_SIZES = ((256, 256), (832, 480), (480, 832), (1280, 720), (640, 360))
CLEAN_FRAMES = 9


def clean_footage(i: int, seed: int, tiny_dir: Path | None = None) -> Video:
    """Unmarked clip `i` of a run (9 frames): the tiny model's output (one in 20), lavfi
    sources and photos in turn, at CLEAN_SIZES in turn."""
    size = CLEAN_SIZES[i % len(CLEAN_SIZES)]
    if i % 20 == 0:
        return tiny_model_clip(size, CLEAN_FRAMES, seed + i, tiny_dir)
    if i % 2:
        return lavfi(LAVFI[(i // 2) % len(LAVFI)], size, CLEAN_FRAMES, seed + i)
    images = sample_images()
    return animate(images[i % len(images)], seed + i, size, CLEAN_FRAMES)


def write_tiny(videos: int, clean: int, seed: int, tiny_dir: Path) -> int:
    """Write every tiny-model clip a run with these options reads with --tiny-dir."""
    tiny_dir.mkdir(parents=True, exist_ok=True)
    wanted = [(size, FRAMES, seed + index) for index in range(videos)
              for kind, size in [_marked_kind(index)] if kind == "tiny"]  # fmt: skip
    wanted += [(CLEAN_SIZES[i % len(CLEAN_SIZES)], CLEAN_FRAMES, seed + 10_000 + i)
               for i in range(0, clean, 20)]  # fmt: skip
    for size, frames, clip_seed in wanted:
        np.save(tiny_dir / _tiny_name(size, frames, clip_seed),
                tiny_model_clip(size, frames, clip_seed))  # fmt: skip
    return len(wanted)


def clip_indices(
    videos: int, clean: int, shard: tuple[int, int], tiny: str = "all"
) -> tuple[list[int], list[int]]:
    """The marked and the clean clips a run makes: those of its shard, with the tiny
    model's clips ("all"), without them ("none") or alone ("only")."""
    keep = {"all": (True, False), "none": (False,), "only": (True,)}[tiny]
    marked = [i for i in range(videos) if i % shard[1] == shard[0]
              and (_marked_kind(i)[0] == "tiny") in keep]  # fmt: skip
    unmarked = [i for i in range(clean) if i % shard[1] == shard[0]
                and (i % 20 == 0) in keep]  # fmt: skip
    return marked, unmarked


def _mark_and_attack(
    index: int, seed: int, attacks: list[str], tiny_dir: Path | None, workers: int | None
) -> dict[str, Any]:
    """Mark clip `index`, publish it, deliver it through every attack and read each back."""
    clip = marked_footage(index, seed, tiny_dir)
    identifier = f"{(seed * 7919 + index * 104729) & 0xFFFFFFFF:08x}"
    started = time.perf_counter()
    marked = embed_video(clip, identifier, workers)
    embed_ms = 1000 * (time.perf_counter() - started) / len(clip)
    psnr, ssim = quality(clip, marked)
    strength = mark_strength(marked, identifier)
    readings: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="wm-bench-") as work:
        published = Path(work) / "published.mp4"
        encode(marked, published)
        for name in attacks:
            delivered = attack(published, name, Path(work))
            started = time.perf_counter()
            reading = read_watermark(delivered)
            readings[name] = {
                "found": reading.payload == identifier,
                "wrong_payload": reading.found and reading.payload != identifier,
                "bit_confidence": reading.bit_confidence,
                "sync": reading.sync_score,
                "read_s": time.perf_counter() - started,
            }
            if reading.payload != identifier:
                print(f"missed: clip {index} {clip.shape[2]}x{clip.shape[1]}, {name}: "
                      f"sync {reading.sync_score}, bits {reading.bit_confidence}", flush=True)  # fmt: skip
    print(f"clip {index} done: PSNR {psnr:.1f} dB, SSIM {ssim:.4f}, strength {strength:.2f}",
          flush=True)  # fmt: skip
    return {"readings": readings, "psnr": psnr, "ssim": ssim, "embed_ms": embed_ms,
            "strength": strength}  # fmt: skip


def _read_clean(i: int, seed: int, tiny_dir: Path | None) -> tuple[bool, float]:
    """(found, seconds) for unmarked clip `i`, encoded as a platform delivers it."""
    clip = clean_footage(i, seed, tiny_dir)
    with tempfile.TemporaryDirectory(prefix="wm-clean-") as work:
        path = Path(work) / "clean.mp4"
        encode(clip, path, PLATFORM_CRF)
        started = time.perf_counter()
        found = read_watermark(path).found
        return found, time.perf_counter() - started


def _single_threaded() -> None:
    """Pool workers: one thread each for OpenCV, as the pool already fills the cores."""
    cv2.setNumThreads(1)


def run(
    videos: int,
    clean: int,
    seed: int,
    attacks: list[str],
    shard: tuple[int, int],
    jobs: int = 1,
    tiny_dir: Path | None = None,
    tiny: str = "all",
    only: list[int] | None = None,
) -> dict[str, Any]:
    """Raw results of this shard (merge shards with `summarise`), clips spread over `jobs`
    processes (each marks with one thread then). `tiny` "none" leaves out the tiny model's
    clips (marked and clean) and "only" runs just those: a machine without diffusers runs
    the rest, this one the tiny clips, and --merge joins them."""
    rows: dict[str, dict[str, list[Any]]] = {
        name: {"found": [], "wrong_payload": [], "bit_confidence": [], "sync": [], "read_s": []}
        for name in attacks
    }
    indices, clean_indices = clip_indices(videos, clean, shard, tiny)
    if only is not None:
        indices = [i for i in indices if i in only]
    mark = partial(_mark_and_attack, seed=seed, attacks=attacks, tiny_dir=tiny_dir,
                   workers=1 if jobs > 1 else None)  # fmt: skip
    read_clean = partial(_read_clean, seed=seed + 10_000, tiny_dir=tiny_dir)
    if jobs > 1:
        # Spawned, not forked: a fork of a process whose threads (OpenCV's, the marking
        # pool's) hold locks can leave its workers waiting forever.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(jobs, context, initializer=_single_threaded) as pool:
            # Both queued at once: the clean clips fill the workers the last marked clips
            # leave idle.
            marked_results = pool.map(mark, indices)
            clean_results = pool.map(read_clean, clean_indices, chunksize=8)
            clips, cleans = list(marked_results), list(clean_results)
    else:
        clips = [mark(i) for i in indices]
        cleans = [read_clean(i) for i in clean_indices]
    for result in clips:
        for name, reading in result["readings"].items():
            for key, value in reading.items():
                rows[name][key].append(value)
    return {
        "rows": rows,
        "psnr": [c["psnr"] for c in clips],
        "ssim": [c["ssim"] for c in clips],
        "embed_ms": [c["embed_ms"] for c in clips],
        "strength": [c["strength"] for c in clips],
        "false_matches": [found for found, _ in cleans],
        "clean_read_s": [seconds for _, seconds in cleans],
    }


def _joined(parts: list[dict[str, Any]], key: str, attack: str | None = None) -> list[Any]:
    """One raw column across shards: `key` of the attack's row, or a top-level `key`."""
    return [
        value
        for part in parts
        for value in (part["rows"][attack][key] if attack is not None else part[key])
    ]


def summarise(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from the raw results of every shard."""
    attacks = {}
    # Clips the stamp would have warned about (too little mark taken) count in "found"
    # like every other; "found_unwarned" leaves them out, to show what the rest reach.
    unwarned = [s >= WEAK_MARK_Z for s in _joined(parts, "strength")]
    for name in parts[0]["rows"]:
        found = _joined(parts, "found", name)
        kept = [f for f, ok in zip(found, unwarned, strict=True) if ok]
        attacks[name] = {
            "found": sum(found) / max(len(found), 1),
            "found_unwarned": sum(kept) / max(len(kept), 1),
            "clips": len(found),
            "target": 0.95 if name in HARD else 0.99,
            "wrong_payload": sum(_joined(parts, "wrong_payload", name)),
            "median_bit_confidence": float(np.median(_joined(parts, "bit_confidence", name))),
            "min_sync": float(np.min(_joined(parts, "sync", name))),
            "median_read_s": float(np.median(_joined(parts, "read_s", name))),
        }
    psnr, ssim = _joined(parts, "psnr"), _joined(parts, "ssim")
    clean = _joined(parts, "false_matches")
    return {
        "videos": len(psnr),
        "warned_videos": unwarned.count(False),
        "frames_per_video": FRAMES,
        "sizes": [f"{w}x{h}" for w, h in SIZES],
        "attacks": attacks,
        "clean_clips": len(clean),
        "false_matches": int(sum(clean)),
        "false_match_bound": FALSE_MATCH_BOUND,
        "clean_median_read_s": float(np.median(_joined(parts, "clean_read_s") or [0.0])),
        "psnr_db": {"min": float(np.min(psnr)), "mean": float(np.mean(psnr))},
        "ssim": {"min": float(np.min(ssim)), "mean": float(np.mean(ssim))},
        "embed_ms_per_frame": float(np.mean(_joined(parts, "embed_ms"))),
        "date": time.strftime("%Y-%m-%d"),
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"\n{result['videos']} marked clips of {FRAMES} frames at {' and '.join(result['sizes'])}, "
          "delivered at the size each attack produces")  # fmt: skip
    print(f"{'attack':34} {'found':>7} {'target':>6} {'unwarned':>8} {'wrong id':>8} "
          f"{'bits |z|':>8} {'min sync':>8} {'read s':>6}")  # fmt: skip
    for name, row in result["attacks"].items():
        print(f"{name:34} {row['found']:7.1%} {row['target']:6.0%} {row['found_unwarned']:8.1%} "
              f"{row['wrong_payload']:8d} "
              f"{row['median_bit_confidence']:8.2f} {row['min_sync']:8.2f} "
              f"{row['median_read_s']:6.2f}")  # fmt: skip
    print(f"unwarned: found among the {result['videos'] - result['warned_videos']} clips whose "
          f"mark strength reached {WEAK_MARK_Z} ({result['warned_videos']} stamped with a "
          "warning: they count in 'found')")  # fmt: skip
    print(f"false matches on {result['clean_clips']} unmarked clips: {result['false_matches']} "
          f"(bound {result['false_match_bound']:.1e} per video)")  # fmt: skip
    print(f"PSNR {result['psnr_db']['min']:.1f} dB min, {result['psnr_db']['mean']:.1f} mean; "
          f"SSIM {result['ssim']['min']:.4f} min, {result['ssim']['mean']:.4f} mean; "
          f"embed {result['embed_ms_per_frame']:.1f} ms/frame")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=40)
    parser.add_argument("--clean", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--attacks", nargs="*", default=list(ATTACKS), choices=list(ATTACKS))
    parser.add_argument("--shard", nargs=2, type=int, default=(0, 1), metavar=("K", "N"),
                        help="run clips K, K+N, K+2N, ... only; write raw results")  # fmt: skip
    parser.add_argument("--merge", nargs="*", type=Path, help="raw shard results to combine")
    parser.add_argument("--jobs", type=int, default=1, help="processes, one clip each at a time")
    parser.add_argument("--tiny-dir", type=Path,
                        help="read the tiny model's clips from here (see --write-tiny) instead "
                        "of running the model: torch and diffusers are then not needed")  # fmt: skip
    parser.add_argument("--write-tiny", type=Path, metavar="DIR",
                        help="write the tiny model's clips this run needs to DIR, then stop")  # fmt: skip
    parser.add_argument("--tiny", choices=("all", "none", "only"), default="all",
                        help="the tiny model's clips: with the rest, left out, or alone "
                        "(with --raw, to --merge runs made on two machines)")  # fmt: skip
    parser.add_argument("--only", nargs="*", type=int, metavar="INDEX",
                        help="of the marked clips, make only these (to complete a run)")  # fmt: skip
    parser.add_argument(
        "--raw",
        action="store_true",
        help="write this run's raw results (for --merge) instead of the summary",
    )
    parser.add_argument("--out", type=Path, default=Path("watermark-robustness.json"))
    args = parser.parse_args()
    if args.write_tiny:
        count = write_tiny(args.videos, args.clean, args.seed, args.write_tiny)
        print(f"wrote {count} tiny-model clips to {args.write_tiny}")
        return
    if args.merge:
        result = summarise([json.loads(path.read_text()) for path in args.merge])
    else:
        raw = run(args.videos, args.clean, args.seed, args.attacks, tuple(args.shard),
                  args.jobs, args.tiny_dir, args.tiny, args.only)  # fmt: skip
        if args.shard[1] > 1 or args.raw:
            args.out.write_text(json.dumps(raw))
            return
        result = summarise([raw])
    args.out.write_text(json.dumps(result, indent=2))
    print_table(result)


if __name__ == "__main__":
    main()
