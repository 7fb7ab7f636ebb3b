"""The invisible watermark: a job identifier and a check code in every frame of a video.

Embedding uses invisible-watermark's DWT-DCT-SVD method: in each 4x4 block of the Haar
approximation of the U (blue-difference) plane, the largest singular value of the block's
DCT is quantised to carry one bit, the payload repeating across the blocks. The library
runs that one block at a time in Python (about 0.2 s per 832x480 frame); here the same
arithmetic runs on all blocks at once, and a test holds it to the library's output pixel
for pixel, so the library stays the reference and its decoder reads our frames.

Decoding reads many frames and votes bit by bit, so the video-level answer is far more
reliable than any one frame's; the check code makes a chance match on an unmarked video
vanishingly rare. When the voted bits fail the check, the few least certain bits are tried
flipped (2^4 candidates): a one-bit error from compression is repaired, and a chance match
stays below one in a million reads (16 / 2^24) for each way of reading (see below).

The DWT-DCT-SVD blocks are tied to the pixel grid and its quantised singular values to the
U plane's scale, so a platform that crops and scales back, or brightens, moves every bit. When
the frames as given carry no payload, decoding undoes a few common edits and votes again.
Crops: a centred crop of 5%, 10% or 20% cuts a whole number of pixels per side, rounded one
way or the other, and a pixel off scrambles the bits, so every margin that could be meant is
scored on a few frames by how far their bit shares sit from one half, and the best
CROP_READINGS are voted; the mirrored border the undo fills in is left out of the vote.
Gains: +-20%. Scoring checks no payload, so only the votes count as readings: 1 as given,
CROP_READINGS = 3 crops and 2 gains, at most 6 x 16 / 2^24 (about 6 in a million) chances
of a false match per unmarked video.

Embedding and decoding run frame by frame on a thread pool: numpy's batched SVD and OpenCV
release the GIL, and threads scaled as well as processes without copying frames between
them (docs/benchmarks.md).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import cv2
import numpy as np
import pywt
from pydantic import BaseModel, Field

METHOD = "dwtDctSvd"
ID_BITS = 32
CHECK_BITS = 24
PAYLOAD_BITS = ID_BITS + CHECK_BITS
# Minimum frame size: imwatermark refuses smaller images, and fewer blocks repeat each bit.
MIN_PIXELS = 256 * 256
# Quantisation step per YUV plane, as imwatermark's `scales` (its loop reads Y and U only;
# 0 skips a plane). U only: imwatermark's default step, 36, lost the payload after H.264
# CRF 28 in our measurement; 90 kept every voted bit there at a PSNR of about 33 dB (see
# docs/benchmarks.md).
SCALES = [0, 90, 0]
PLANE = 1
STEP = SCALES[PLANE]
BLOCK = 4
DECODE_FRAMES = 24
# Edits undone when decoding the frames as given finds nothing: centred crops (share of
# width and height cut off in total, scaled back to the frame size), then brightness gains.
# Each gain undone also catches gains within about 5% of it (measured).
CROP_SEARCH = (0.10, 0.05, 0.20)
GAIN_SEARCH = (1.2, 0.8)
# Crop margins are ranked on this many frames; the best CROP_READINGS are voted on all.
SCORE_FRAMES = 4
CROP_READINGS = 3
# Fewer frames than this per worker run in the calling thread: a pool costs more than it saves.
FRAMES_PER_WORKER = 4
# Least-certain voted bits tried flipped when the check fails (2^REPAIR_BITS candidates).
REPAIR_BITS = 4


class WatermarkReading(BaseModel):
    """What the decoder found in a video."""

    found: bool = Field(description="A payload with a valid check code was voted.")
    payload: str | None = Field(None, description="Job identifier (hex) when found.")
    frames_read: int = Field(description="Frames decoded (frames below the minimum size skip).")
    frames_agreeing: int = Field(description="Frames whose own decode equals the payload.")
    bit_confidence: float = Field(description="Mean agreement of the per-bit votes, 0.5-1.")
    undone: str | None = Field(
        None, description="Edit undone before the payload was found, e.g. 'crop 10%'."
    )
    method: str = Field(METHOD, description="invisible-watermark method decoded.")


def payload_id(job_hash: str) -> str:
    """The identifier a video carries: the first 32 bits of its job hash, as hex."""
    return job_hash[: ID_BITS // 4]


def _check_code(identifier: bytes) -> bytes:
    return hashlib.sha256(b"vidflow-watermark:" + identifier).digest()[: CHECK_BITS // 8]


def payload_bits(identifier_hex: str) -> list[int]:
    raw = bytes.fromhex(identifier_hex)
    data = raw + _check_code(raw)
    return [int(b) for b in np.unpackbits(np.frombuffer(data, dtype=np.uint8))]


def parse_bits(bits: Iterable[int]) -> str | None:
    """The identifier if the bits carry a valid check code, else None."""
    data = np.packbits(np.asarray(list(bits), dtype=np.uint8)).tobytes()
    identifier, check = data[: ID_BITS // 8], data[ID_BITS // 8 :]
    return identifier.hex() if _check_code(identifier) == check else None


def check_size(width: int, height: int) -> None:
    if width * height < MIN_PIXELS:
        raise ValueError(f"frames of {width}x{height} are too small to watermark (min 256x256)")


def _dct_matrix(n: int) -> np.ndarray[Any, Any]:
    """Orthonormal DCT-II matrix: `D @ block @ D.T` equals `cv2.dct(block)`."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2 / n)
    matrix[0] /= np.sqrt(2)
    return matrix


DCT = _dct_matrix(BLOCK)


def _approximation(yuv: np.ndarray[Any, Any]) -> tuple[Any, Any]:
    """Haar approximation and details of the watermarked plane, cropped to a multiple of 4."""
    rows, cols = yuv.shape[0] // 4 * 4, yuv.shape[1] // 4 * 4
    return pywt.dwt2(yuv[:rows, :cols, PLANE], "haar")


def _blocks(approx: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Whole 4x4 blocks in row-major order, the order imwatermark assigns bits in: [N, 4, 4]."""
    rows, cols = approx.shape[0] // BLOCK, approx.shape[1] // BLOCK
    grid = approx[: rows * BLOCK, : cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK)
    return grid.transpose(0, 2, 1, 3).reshape(-1, BLOCK, BLOCK)


def _yuv(frame_rgb: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    # Through BGR, as imwatermark converts: the same rounding, the same pixels.
    bgr = cv2.cvtColor(np.ascontiguousarray(frame_rgb), cv2.COLOR_RGB2BGR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)


class FrameWatermarker:
    """Embeds one payload into frames; built once per video."""

    def __init__(self, identifier_hex: str) -> None:
        self.identifier = identifier_hex
        self._bits = np.asarray(payload_bits(identifier_hex), dtype=np.float64)

    def embed(self, frame_rgb: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        yuv = _yuv(frame_rgb)
        approx, (horizontal, vertical, diagonal) = _approximation(yuv)
        blocks = _blocks(approx)
        u, s, vh = np.linalg.svd(DCT @ blocks @ DCT.T)
        bits = np.resize(self._bits, len(blocks))
        s[:, 0] = (s[:, 0] // STEP + 0.25 + 0.5 * bits) * STEP
        marked = DCT.T @ (u @ (s[:, :, None] * vh)) @ DCT
        rows, cols = approx.shape[0] // BLOCK * BLOCK, approx.shape[1] // BLOCK * BLOCK
        approx[:rows, :cols] = (
            marked.reshape(rows // BLOCK, cols // BLOCK, BLOCK, BLOCK)
            .transpose(0, 2, 1, 3)
            .reshape(rows, cols)
        )
        # imwatermark passes the details back in this order (vertical first); kept for
        # pixel-exact agreement with it.
        plane = pywt.idwt2((approx, (vertical, horizontal, diagonal)), "haar")
        yuv[: plane.shape[0], : plane.shape[1], PLANE] = plane
        bgr = cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def default_workers() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


_In = TypeVar("_In")
_Out = TypeVar("_Out")


def map_frames(
    function: Callable[[_In], _Out], items: Sequence[_In], workers: int | None = None
) -> list[_Out]:
    """`function` over `items` in order, on up to `workers` threads (default: every core)."""
    workers = min(workers or default_workers(), len(items) // FRAMES_PER_WORKER)
    if workers <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(workers, thread_name_prefix="watermark") as pool:
        return list(pool.map(function, items))


def embed_video(
    frames: np.ndarray[Any, Any], identifier_hex: str, workers: int | None = None
) -> np.ndarray[Any, Any]:
    """A copy of `frames` (uint8 RGB [T, H, W, 3]) with the payload in every frame.

    Frames are marked on up to `workers` threads (default: every core); few frames run in
    the calling thread.
    """
    check_size(frames.shape[2], frames.shape[1])
    marker = FrameWatermarker(identifier_hex)
    return np.stack(map_frames(marker.embed, list(frames), workers))


def _bit_shares(frame_rgb: np.ndarray[Any, Any], border: tuple[int, int]) -> Any:
    """Share of each bit's blocks reading 1, leaving out blocks within `border` pixels
    (top/bottom, left/right) of the edge."""
    approx, _ = _approximation(_yuv(frame_rgb))
    blocks = _blocks(approx)
    largest = np.linalg.svd(DCT @ blocks @ DCT.T, compute_uv=False)[:, 0]
    ones = (largest % STEP > STEP * 0.5).astype(np.float64)
    position = np.arange(len(blocks)) % PAYLOAD_BITS
    cols = approx.shape[1] // BLOCK
    row, col = np.divmod(np.arange(len(blocks)), cols)
    # A block covers 2 * BLOCK pixels of the frame (the Haar approximation halves it).
    skip_rows, skip_cols = (math.ceil(margin / (2 * BLOCK)) for margin in border)
    keep = (
        (row >= skip_rows)
        & (row < len(blocks) // cols - skip_rows)
        & (col >= skip_cols)
        & (col < cols - skip_cols)
    )
    counts = np.bincount(position[keep], minlength=PAYLOAD_BITS)
    ones_per_bit = np.bincount(position[keep], weights=ones[keep], minlength=PAYLOAD_BITS)
    return ones_per_bit / np.maximum(counts, 1)


def decode_frame_bits(
    frame_rgb: np.ndarray[Any, Any], border: tuple[int, int] = (0, 0)
) -> list[int]:
    """One frame's bits: the share of each bit's blocks reading 1, thresholded as imwatermark.

    `border`: pixels at the top and bottom, left and right whose blocks are not read (filler
    that an undone crop put there); (0, 0) reads every block, as imwatermark does.
    """
    return [int(bit) for bit in _bit_shares(frame_rgb, border) * 255 > 127]


def _repair(votes: np.ndarray[Any, Any], voted: np.ndarray[Any, Any]) -> tuple[str | None, Any]:
    """Try the least certain bits flipped; the first candidate that passes the check wins."""
    uncertain = np.argsort(np.abs(votes - 0.5))[:REPAIR_BITS]
    for mask in range(1, 2**REPAIR_BITS):
        candidate = voted.copy()
        for i, position in enumerate(uncertain):
            if mask >> i & 1:
                candidate[position] ^= 1
        identifier = parse_bits(candidate)
        if identifier is not None:
            return identifier, candidate
    return None, voted


def uncrop(frame_rgb: np.ndarray[Any, Any], margin: tuple[int, int]) -> np.ndarray[Any, Any]:
    """Undo a centred crop of `margin` pixels per side (top and bottom, left and right) that
    was scaled back to the frame size.

    The picture shrinks to where it was before the crop; the lost border is mirrored in
    (decoding leaves it out).
    """
    height, width = frame_rgb.shape[:2]
    dy, dx = margin
    inner = cv2.resize(frame_rgb, (width - 2 * dx, height - 2 * dy), interpolation=cv2.INTER_AREA)
    return cv2.copyMakeBorder(inner, dy, dy, dx, dx, cv2.BORDER_REFLECT)


def crop_margins(height: int, width: int) -> list[tuple[float, tuple[int, int]]]:
    """Every (share, per-side margin in pixels) a centred crop of CROP_SEARCH could have cut:
    each side's margin rounded down or up."""
    candidates: dict[tuple[int, int], float] = {}
    for share in CROP_SEARCH:
        rows = {math.floor(height * share / 2), math.ceil(height * share / 2)}
        cols = {math.floor(width * share / 2), math.ceil(width * share / 2)}
        for margin in sorted((dy, dx) for dy in rows for dx in cols):
            candidates.setdefault(margin, share)
    return [(share, margin) for margin, share in candidates.items()]


def _crop_score(frames: Sequence[np.ndarray[Any, Any]], margin: tuple[int, int]) -> float:
    """How far the bit shares sit from one half after undoing `margin`: near 0 when the
    blocks are scrambled, towards 0.5 when the payload is back in place."""
    shares = [_bit_shares(uncrop(frame, margin), margin) for frame in frames]
    return float(np.mean(np.abs(np.asarray(shares) - 0.5)))


def ungain(frame_rgb: np.ndarray[Any, Any], gain: float) -> np.ndarray[Any, Any]:
    """Undo a brightness gain (highlights clipped by it stay lost)."""
    return np.clip(frame_rgb.astype(np.float32) / gain, 0, 255).round().astype(np.uint8)


def _vote(per_frame: list[list[int]], undone: str | None) -> WatermarkReading:
    votes = np.asarray(per_frame, dtype=np.float64).mean(axis=0)
    voted = (votes >= 0.5).astype(int)
    confidence = float(np.mean(np.maximum(votes, 1 - votes)))
    identifier = parse_bits(voted)
    if identifier is None:
        identifier, voted = _repair(votes, voted)
    agreeing = sum(1 for bits in per_frame if bits == voted.tolist())
    found = identifier is not None
    return WatermarkReading(
        found=found,
        payload=identifier if found else None,
        frames_read=len(per_frame),
        frames_agreeing=agreeing,
        bit_confidence=round(confidence, 4),
        undone=undone if found else None,
    )


def _undo_and_decode(
    undo: Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]], border: tuple[int, int]
) -> Callable[[np.ndarray[Any, Any]], list[int]]:
    return lambda frame: decode_frame_bits(undo(frame), border)


def read_video(
    frames: Iterable[np.ndarray[Any, Any]], workers: int | None = None
) -> WatermarkReading:
    """Vote across the frames given (already sampled by the caller), then across edits undone.

    Frames are decoded on up to `workers` threads (default: every core). The reading
    returned when nothing is found is the one of the frames as given.
    """
    usable = [f for f in frames if f.shape[0] * f.shape[1] >= MIN_PIXELS]
    if not usable:
        return WatermarkReading(found=False, frames_read=0, frames_agreeing=0, bit_confidence=0.5)
    first = _vote(map_frames(decode_frame_bits, usable, workers), None)
    if first.found:
        return first

    # Crop margins, best scored first: only the CROP_READINGS best are voted.
    height, width = usable[0].shape[:2]
    scored = [
        usable[i]
        for i in np.linspace(0, len(usable) - 1, min(SCORE_FRAMES, len(usable))).astype(int)
    ]
    margins = crop_margins(height, width)
    scores = map_frames(lambda candidate: _crop_score(scored, candidate[1]), margins, workers)
    ranked = [margins[i] for i in np.argsort(scores)[::-1][:CROP_READINGS]]
    edits: list[tuple[str, Callable[[np.ndarray[Any, Any]], list[int]]]] = [
        (
            f"crop {share:.0%} ({dy} px off top and bottom, {dx} px off left and right)",
            _undo_and_decode(partial(uncrop, margin=(dy, dx)), (dy, dx)),
        )
        for share, (dy, dx) in ranked
    ] + [
        (f"brightness {gain - 1:+.0%}", _undo_and_decode(partial(ungain, gain=gain), (0, 0)))
        for gain in GAIN_SEARCH
    ]
    for name, decode in edits:
        reading = _vote(map_frames(decode, usable, workers), name)
        if reading.found:
            return reading
    return first
