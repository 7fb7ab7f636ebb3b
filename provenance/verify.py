"""`vidflow verify FILE`: is this video marked as made by vidflow, and by which job?"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal, get_args

import imageio_ffmpeg
import numpy as np
from pydantic import BaseModel, Field

from provenance.c2pa_sign import C2paStatus, read_c2pa
from provenance.label import Corner, LabelStyle, label_score
from provenance.watermark import (
    CHECK_BITS,
    DECODE_FRAMES,
    FALSE_MATCH_BOUND,
    LIST_SIZE,
    MIN_READ_SIDE,
    READINGS,
    LumaAverage,
    WatermarkReading,
    read_average,
)
from vidflow.settings import get_settings

# Correlation of the label's glyph shape with the corner's luma above which it is present.
LABEL_PRESENT = 0.5
# Label heights (share of the frame height) searched besides the style's own.
LABEL_SIZES = (0.05, 0.07, 0.1)
EXIT_CODES = {"marked": 0, "unmarked": 1, "tampered": 2}
EXIT_UNREADABLE = 3


class VerifyReport(BaseModel):
    """Everything `vidflow verify` found in one file."""

    file: str = Field(description="The file read.")
    status: Literal["marked", "unmarked", "tampered"] = Field(
        description="marked: watermark found and any C2PA manifest valid; tampered: a C2PA "
        "manifest that does not validate; unmarked: neither watermark nor manifest."
    )
    watermark: WatermarkReading
    c2pa: C2paStatus
    label_present: bool = Field(description="The visible label was found in a corner.")
    label_corner: Corner | None = Field(None, description="Where the label was found.")
    label_score: float = Field(
        description="Best correlation of the label's glyphs with a corner's luma (1: exact)."
    )
    frames_total: int = Field(description="Frames in the video; a sample of them is decoded.")


class UnreadableVideo(Exception):
    """The file is not a video vidflow can read (empty, truncated, not a video, no picture,
    or frames too small to carry a watermark); the message names the file."""


class VideoFrames(BaseModel):
    """What one pass over a video's frames keeps: a sample for the label, the mean luma of
    every frame for the watermark, and the frame count."""

    model_config = {"arbitrary_types_allowed": True}

    sample: Any = Field(description="Up to DECODE_FRAMES frames spread across the video.")
    luma: LumaAverage = Field(description="Running mean luma of every frame.")
    total: int = Field(description="Frames decoded.")


def read_frames(path: Path, count: int = DECODE_FRAMES) -> VideoFrames:
    """Decode every frame once: average its luma, keep up to `count` frames spread across
    the video (by the container's duration, an estimate: a short count thins the sample).
    Memory stays at `count` frames whatever the length and size."""
    try:
        reader = imageio_ffmpeg.read_frames(str(path), output_params=["-an"])
        meta = reader.__next__()
    except (OSError, RuntimeError, StopIteration) as exc:
        raise UnreadableVideo(f"{path}: not a readable video ({_first_line(exc)})") from exc
    width, height = meta["size"]
    if min(width, height) < MIN_READ_SIDE:
        reader.close()
        raise UnreadableVideo(
            f"{path}: frames of {width}x{height} are too small to carry a watermark "
            f"(at least {MIN_READ_SIDE} pixels a side)"
        )
    estimate = max(round(float(meta.get("fps") or 0) * float(meta.get("duration") or 0)), 1)
    keep = set(np.linspace(0, estimate - 1, min(count, estimate)).round().astype(int).tolist())
    frames: list[np.ndarray[Any, Any]] = []
    luma, total = LumaAverage(), 0
    try:
        for raw in reader:
            frame = np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)
            luma.add(frame)
            if total in keep or (total >= estimate and len(frames) < count):
                frames.append(frame)
            total += 1
    except (OSError, RuntimeError) as exc:
        if not frames:
            raise UnreadableVideo(f"{path}: not a readable video ({_first_line(exc)})") from exc
    finally:
        reader.close()
    if not frames:
        raise UnreadableVideo(f"{path}: no video frames could be decoded")
    return VideoFrames(sample=np.stack(frames), luma=luma, total=total)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def read_watermark(path: Path) -> WatermarkReading:
    """The watermark reading `vidflow verify` makes of a file (frames as delivered)."""
    return read_average(read_frames(path).luma)


def verify_file(path: Path, style: LabelStyle | None = None) -> VerifyReport:
    """Read all three marks; a manifest that fails validation outweighs everything else.

    A forged or edited manifest is the one finding a user must not miss, so it decides the
    status even when the watermark is still found.
    """
    video = read_frames(path)
    frames, total = video.sample, video.total
    watermark = read_average(video.luma)
    c2pa = read_c2pa(path)
    style = style or LabelStyle(text=get_settings().label_text)
    # The label may sit in any corner at any of the usual sizes, whatever the style says.
    scores = {
        (corner, share): label_score(
            frames, style.model_copy(update={"corner": corner, "height_share": share})
        )
        if len(frames)
        else 0.0
        for corner in get_args(Corner)
        for share in sorted({style.height_share, *LABEL_SIZES})
    }
    corner, _ = best = max(scores, key=lambda key: scores[key])
    score = scores[best]
    if c2pa.present and not c2pa.valid:
        status: Literal["marked", "unmarked", "tampered"] = "tampered"
    elif watermark.found or c2pa.valid:
        status = "marked"
    else:
        status = "unmarked"
    return VerifyReport(
        file=str(path),
        status=status,
        watermark=watermark,
        c2pa=c2pa,
        label_present=score >= LABEL_PRESENT,
        label_corner=corner if score >= LABEL_PRESENT else None,
        label_score=round(score, 3),
        frames_total=total,
    )


def _print_report(report: VerifyReport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report.file}: {report.status}", show_header=False)
    wm = report.watermark
    table.add_row(
        "invisible watermark",
        f"found, job {wm.payload} (picture: {wm.alignment}; {wm.frames_read} frames averaged, "
        f"sync {wm.sync_score}, bit confidence {wm.bit_confidence})"
        if wm.found
        else f"not found ({wm.frames_read} frames averaged, sync {wm.sync_score})",
    )
    c2 = report.c2pa
    if c2.present:
        detail = f"{'valid' if c2.valid else 'INVALID'} ({c2.state})"
        job = c2.claims.get("job") or {}
        if job.get("development_certificate"):
            detail += ", DEVELOPMENT certificate"
        for error in c2.errors:
            detail += f"\n{error}"
        table.add_row("C2PA manifest", detail)
        table.add_row("C2PA claims", str(job))
    else:
        table.add_row("C2PA manifest", "none")
    table.add_row(
        "visible label",
        f"present, {report.label_corner} ({report.label_score})"
        if report.label_present
        else f"absent ({report.label_score})",
    )
    Console().print(table)


def _verify(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.exists():
        print(f"error: {path}: no such file", file=sys.stderr)
        return EXIT_UNREADABLE
    if not path.is_file():
        print(f"error: {path}: not a file", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        report = verify_file(path)
    except UnreadableVideo as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        _print_report(report)
    return EXIT_CODES[report.status]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="check a video's watermark, C2PA manifest and label",
        description="Exit code: 0 marked, 1 unmarked, 2 tampered (a C2PA manifest that does "
        "not validate), 3 not a readable video (missing, empty, truncated, not a video, no "
        "picture, or frames under 128 pixels a side). The chance that an unmarked video "
        f"reads as marked is at most {FALSE_MATCH_BOUND:.1e}: {READINGS} readings x "
        f"{LIST_SIZE} decoder candidates, each passing a {CHECK_BITS}-bit check code by "
        f"chance with probability 2^-{CHECK_BITS}.",
    )
    parser.add_argument("file", help="an mp4 file")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=_verify)
