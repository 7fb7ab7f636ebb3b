"""The invisible watermark: a job identifier and a check code that outlive platform delivery.

Platforms rescale (to 720p, 1080p, previews), letterbox into 16:9 or 9:16, crop off centre,
change the frame rate and re-encode hard; the C2PA manifest is usually stripped on the way,
so this mark is often the only one left. docs/watermark.md says why this design and what
it survives (measured in docs/benchmarks.md).

Canonical grid. The mark lives on a fixed grid of GRID cells (wide side first), whatever
the frame size: each cell is +-1, the grid is scaled to the frame with bilinear
interpolation and added to the luma, so any rescale of the whole frame, aspect ratio
included, maps back by resizing the frame to the grid. Most cells spread the payload: its
64 bits go through a rate-1/2 convolutional code, and each of the CODED_BITS coded bits sits
on ~59 cells scattered over the frame, with a pseudo-random sign. A PILOT_SHARE of the cells
carry a fixed pilot pattern that holds no payload. The luma change is stronger where
the picture is busy and weaker where it is flat, at EMBED_RMS levels overall (PSNR ~41 dB).

Reading. The sampled frames' luma is averaged (the mark is the same in every frame, the
picture is not), letterbox or pillarbox bars are cut off, and the rest is high-passed at
twice the grid resolution. Crops are found by the pilot alone: for every crop share from
none to MAX_CROP in fine steps (the same both ways, or one way only up to MAX_ONE_SIDED),
the picture is scaled to that share of the grid and slid over the pilot template (one FFT
correlation per share, every position at once). Only
the READINGS best-scoring alignments are read for the payload; each reading correlates
every coded bit's cells (a soft value, z) and a list Viterbi decoder hands the LIST_SIZE
most likely payloads, best first, to the check code.

False matches. For an unmarked video, each candidate tried is an identifier with a 32-bit
check code that matches by chance with probability 2^-32 (the check is a hash of the
identifier, which the decoder never sees), so P(false match per video) <= READINGS *
LIST_SIZE / 2^CHECK_BITS = FALSE_MATCH_BOUND (about 2.4e-7). The alignment search scores no
payload, so its thousands of positions do not enter the bound.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any, TypeVar

import cv2
import numpy as np
from pydantic import BaseModel, Field

from vidflow.settings import affinity_cores

METHOD = "canonical-grid-spread-spectrum"
ID_BITS = 32
CHECK_BITS = 32
PAYLOAD_BITS = ID_BITS + CHECK_BITS
# Convolutional code over the payload: rate 1/2, constraint length 7 (the (171, 133) octal
# pair of Voyager and 802.11, free distance 10), ending in state 0 after MEMORY zero bits.
CODE_MEMORY = 6
CODE_POLYNOMIALS = (0o171, 0o133)
CODED_BITS = (PAYLOAD_BITS + CODE_MEMORY) * len(CODE_POLYNOMIALS)
KEY = b"vidflow-watermark-v3"
# Cells of the canonical grid, wide side first (transposed for portrait frames). 128x72 is
# 16:9, so cells are about square on common frames; at 416x240 (a 0.5x delivery of 832x480)
# a cell is still ~3 px, which CRF 28 keeps.
GRID = (128, 72)
PILOT_SHARE = 0.1
# RMS luma change, in 8-bit levels: PSNR = 20 log10(255 / EMBED_RMS) ~ 41.5 dB.
EMBED_RMS = 2.4
# A frame whose RMS change falls below EMBED_RMS / REGAIN_BELOW is marked again at up to
# MAX_GAIN times the amplitude (see FrameWatermarker.embed).
REGAIN_BELOW = 1.15
MAX_GAIN = 2.5
# Amplitude relative to the frame's mean, from flat to busy parts of the picture.
WEIGHT_RANGE = (0.3, 2.5)
# Where a channel's local mean is below this, it gets a proportionally smaller change.
DARK_LEVEL = 24.0
# Cap on the amplitude per unit of SSIM tolerance (see _strength): keeps SSIM >= 0.98 on
# smooth footage, where the RMS target alone would not.
SSIM_BUDGET = 0.24
# RMS of the +-1 cell grid after bilinear scaling to the frame (measured: cells blend).
PATTERN_RMS = 0.67
# SSIM's second constant for 8-bit images, (0.03 * 255)^2.
SSIM_C2 = 58.5
# Smallest frame that can carry the mark (embedding) and that is worth reading (decoding):
# below ~2 pixels per cell the grid is lost to the codec.
MIN_EMBED_SIDE = 256
MIN_READ_SIDE = 128
DECODE_FRAMES = 24
# Alignment search: crop shares (of width and height) from none to MAX_CROP in CROP_STEP
# steps, the same share both ways or (a platform filling another aspect ratio) one way
# only, up to MAX_ONE_SIDED (16:9 cut to 4:3 keeps 75% of the width); the slack lets a
# whole-frame or bar-cut picture sit a pixel or two off.
MAX_CROP = 0.2
MAX_ONE_SIDED = 0.25
CROP_STEP = 0.005
SLACK = 2
# Payload readings (alignments read: the picture as delivered, then the pilot's best
# matches) and, in each, the most likely payloads the list decoder hands to the check.
READINGS = 8
LIST_SIZE = 128
FALSE_MATCH_BOUND = READINGS * LIST_SIZE / 2**CHECK_BITS
# A mark whose coded bits read below this mean z in the marked frames themselves (before any
# codec) is unlikely to outlive strong platform re-encoding: H.264 CRF 35 divides it by
# about 4, and the list decoder needs about 1.
WEAK_MARK_Z = 4.0
# Letterbox bars: rows/columns whose mean luma stays within BAR_TOLERANCE of the corner's.
BAR_TOLERANCE = 4.0
# High-pass: the picture minus its blur, at detection resolution (2 samples per cell).
HIGHPASS_SIGMA = 1.5
# Local spread of the detail, for whitening: window (detection pixels) and floor (levels).
WHITEN_SIGMA = 4.0
WHITEN_FLOOR = 0.5
# Fewer frames than this per worker run in the calling thread: a pool costs more than it saves.
FRAMES_PER_WORKER = 4
# Crop shares scored per task of the alignment search's thread pool.
SHARES_PER_CHUNK = 8


class WatermarkReading(BaseModel):
    """What the decoder found in a video."""

    found: bool = Field(description="A payload with a valid check code was read.")
    payload: str | None = Field(None, description="Job identifier (hex) when found.")
    frames_read: int = Field(description="Frames averaged (frames below the minimum skip).")
    bit_confidence: float = Field(
        description="Mean |z| of the coded bits' correlations at the reading returned "
        "(about 0.8 on unmarked video; a clean mark reads above 4, and the list decoder "
        "finds marks down to about 1.3)."
    )
    sync_score: float = Field(
        description="Pilot correlation (z) at the best alignment; ~4 or less when unmarked."
    )
    alignment: str | None = Field(
        None, description="Where the picture sat in the original, e.g. 'crop 10% at (3%, 0%)'."
    )
    readings: int = Field(description="Payload readings tried (at most READINGS).")
    method: str = Field(METHOD, description="Watermark method decoded.")


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
    if min(width, height) < MIN_EMBED_SIDE:
        raise ValueError(
            f"frames of {width}x{height} are too small to watermark "
            f"(min {MIN_EMBED_SIDE} pixels a side)"
        )


def _grid(portrait: bool) -> tuple[int, int]:
    """(columns, rows) of the canonical grid for a frame of this orientation."""
    return (GRID[1], GRID[0]) if portrait else GRID


@cache
def _layout(portrait: bool) -> tuple[Any, Any, Any]:
    """The keyed layout: pilot sign per cell (0 where the cell carries payload), coded bit
    per cell (-1 on pilot cells) and the payload cells' chip signs. Same for every video."""
    cols, rows = _grid(portrait)
    rng = np.random.default_rng(np.frombuffer(hashlib.sha256(KEY).digest(), dtype=np.uint32))
    cells = rows * cols
    order = rng.permutation(cells)
    pilots = int(cells * PILOT_SHARE)
    pilot = np.zeros(cells, np.float32)
    pilot[order[:pilots]] = rng.choice([-1.0, 1.0], pilots)
    bit = np.full(cells, -1, np.int64)
    bit[order[pilots:]] = np.arange(cells - pilots) % CODED_BITS
    chips = rng.choice([-1.0, 1.0], cells).astype(np.float32) * (bit >= 0)
    shape = (rows, cols)
    return pilot.reshape(shape), bit.reshape(shape), chips.reshape(shape)


def _register_outputs() -> Any:
    """The coded bits each shift-register content (newest input bit lowest) emits, [2^7, 2]."""
    registers = np.arange(2 ** (CODE_MEMORY + 1))
    return np.stack(
        [[(int(r) & g).bit_count() & 1 for r in registers] for g in CODE_POLYNOMIALS], axis=1
    )


_OUTPUTS = _register_outputs()
_STATES = 2**CODE_MEMORY


def encode_payload(bits: Sequence[int]) -> list[int]:
    """The payload bits through the convolutional code, then CODE_MEMORY zeros to end in
    state 0: CODED_BITS bits."""
    state, coded = 0, list[int]()
    for bit in [*bits, *[0] * CODE_MEMORY]:
        register = (state << 1) | int(bit)
        coded.extend(int(o) for o in _OUTPUTS[register])
        state = register & (_STATES - 1)
    return coded


def list_decode(z: Any, size: int = LIST_SIZE) -> list[list[int]]:
    """The `size` most likely payloads (best first) for the coded bits' soft values `z`
    (positive: a 1 is likelier), by a parallel list Viterbi decoder: every state keeps its
    `size` best paths, and the paths ending in state 0 are read back.

    A path's score is the sum of z times the +-1 coded bits it emits, the log-likelihood
    (up to a constant) when the z are equally noisy Gaussian values."""
    steps = len(z) // len(CODE_POLYNOMIALS)
    signed = np.asarray(z, np.float64).reshape(steps, len(CODE_POLYNOMIALS))
    symbols = _OUTPUTS * 2 - 1  # [register, output]
    # Into next state n come the registers (b << MEMORY) | n, from states (n >> 1) | (b << 5).
    nexts = np.arange(_STATES)
    registers = np.stack([nexts, nexts | _STATES], axis=1)  # [n, b]
    previous = (registers >> 1) & (_STATES - 1)
    score = np.full((_STATES, size), -np.inf)
    score[0, 0] = 0.0
    back = np.zeros((steps, _STATES, size), np.int64)  # b * size + rank of the previous path
    for t in range(steps):
        branch = symbols[registers] @ signed[t]  # [n, b]
        candidates = (score[previous] + branch[:, :, None]).reshape(_STATES, 2 * size)
        best = np.argsort(-candidates, axis=1, kind="stable")[:, :size]
        score = np.take_along_axis(candidates, best, axis=1)
        back[t] = best
    # Read every path ending in state 0 back at once, best first.
    alive = int(np.isfinite(score[0]).sum())
    state = np.zeros(alive, np.int64)
    rank = np.arange(alive)
    bits = np.zeros((alive, steps), np.int64)
    for t in range(steps - 1, -1, -1):
        b, rank = np.divmod(back[t, state, rank], size)
        bits[:, t] = state & 1
        state = previous[state, b]
    return bits[:, :PAYLOAD_BITS].tolist()


def _cells(bits: Sequence[int], portrait: bool) -> Any:
    """The +-1 value of every cell for this payload (its coded bits spread over the cells)."""
    pilot, bit, chips = _layout(portrait)
    signs = np.asarray(encode_payload(bits), np.float32) * 2 - 1
    return pilot + chips * signs[np.maximum(bit, 0)] * (bit >= 0)


def _gray(frame_rgb: np.ndarray[Any, Any]) -> Any:
    return cv2.cvtColor(np.ascontiguousarray(frame_rgb), cv2.COLOR_RGB2GRAY)


def _luma(frame_rgb: np.ndarray[Any, Any]) -> Any:
    return _gray(frame_rgb).astype(np.float32)


def _quarter(image: Any) -> Any:
    """The image at a quarter of its width and height (area average): where the embedder
    measures local spread and darkness, cheaply and over ~12-pixel neighbourhoods."""
    height, width = image.shape[:2]
    return cv2.resize(
        image, (max(width // 4, 1), max(height // 4, 1)), interpolation=cv2.INTER_AREA
    )


def _strength(luma: Any, gain: float = 1.0) -> Any:
    """Per-pixel amplitude, after SSIM's own sensitivity: a change of a within a window of
    local spread s costs about a^2 / (2 s^2 + C2) of its SSIM, so the amplitude follows
    sqrt(2 s^2 + C2): less on flat parts (where the eye sees it too), more on busy ones. The
    frame's RMS change is `gain` * EMBED_RMS, but nowhere above SSIM_BUDGET *
    sqrt(2 s^2 + C2)."""
    height, width = luma.shape
    small = _quarter(luma)
    mean = cv2.blur(small, (3, 3))
    tolerance = np.sqrt(2 * np.maximum(cv2.blur(small * small, (3, 3)) - mean * mean, 0) + SSIM_C2)
    weight = np.clip(tolerance / float(tolerance.mean()), *WEIGHT_RANGE)
    rms = float(np.sqrt(np.mean(weight**2))) * PATTERN_RMS
    amplitude = np.minimum(weight * (gain * EMBED_RMS / rms), SSIM_BUDGET * tolerance)
    return cv2.resize(amplitude, (width, height), interpolation=cv2.INTER_LINEAR)


class FrameWatermarker:
    """Embeds one payload into frames; built once per video."""

    def __init__(self, identifier_hex: str) -> None:
        self.identifier = identifier_hex
        self._bits = payload_bits(identifier_hex)
        self._patterns: dict[tuple[int, int], Any] = {}

    def pattern(self, width: int, height: int) -> Any:
        """The +-1 cell grid scaled to the frame (bilinear), kept per frame size."""
        if (width, height) not in self._patterns:
            cells = _cells(self._bits, portrait=height > width)
            self._patterns[(width, height)] = cv2.resize(
                cells, (width, height), interpolation=cv2.INTER_LINEAR
            )
        return self._patterns[(width, height)]

    def embed(self, frame_rgb: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """The frame with the mark at EMBED_RMS levels where SSIM allows. Where the caps,
        dark parts or clipping at 0 and 255 leave less (black backgrounds, saturated
        cellular automata), the rest of the frame takes up to MAX_GAIN times more."""
        marked, achieved = self._embed(frame_rgb, 1.0)
        if achieved < EMBED_RMS / REGAIN_BELOW:
            marked, _ = self._embed(frame_rgb, min(EMBED_RMS / max(achieved, 1e-3), MAX_GAIN))
        return marked

    def _embed(self, frame_rgb: np.ndarray[Any, Any], gain: float) -> tuple[Any, float]:
        """The marked frame at this gain, and its RMS change (levels, over R, G and B)."""
        height, width = frame_rgb.shape[:2]
        pattern = self.pattern(width, height)
        change = _strength(_luma(frame_rgb), gain) * pattern
        # The same change on R, G and B moves luma by that much and leaves colour be. Where
        # a channel is dark around a pixel it changes less: there SSIM's luminance term (and
        # the eye) notice most. Around, not at the pixel: a black pixel among bright ones
        # (text, cellular automata) still takes its half of the mark, the rising one.
        frame = np.ascontiguousarray(frame_rgb)
        dark = np.minimum(cv2.blur(_quarter(frame).astype(np.float32), (3, 3)) / DARK_LEVEL, 1.0)
        dark = cv2.resize(dark, (width, height), interpolation=cv2.INTER_LINEAR)
        # OpenCV adds, rounds and saturates in one pass, and measures the change in another
        # (numpy took six passes over the frame in float: most of the embedder's time).
        marked = cv2.add(frame, change[:, :, None] * dark, dtype=cv2.CV_8U)
        return marked, cv2.norm(marked, frame, cv2.NORM_L2) / float(np.sqrt(marked.size))


_In = TypeVar("_In")
_Out = TypeVar("_Out")


def map_frames(
    function: Callable[[_In], _Out],
    items: Sequence[_In],
    workers: int | None = None,
    per_worker: int = FRAMES_PER_WORKER,
) -> list[_Out]:
    """`function` over `items` in order, on up to `workers` threads (default: every core),
    each given at least `per_worker` items (fewer run in the calling thread)."""
    workers = min(workers or affinity_cores(), len(items) // per_worker)
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


def _highpass(image: Any) -> Any:
    """The picture minus its blur: the mark's band, without most of the picture."""
    return image - cv2.GaussianBlur(image, (0, 0), HIGHPASS_SIGMA)


def _whiten(image: Any) -> Any:
    """High-pass, then divide by the local spread of the detail: busy parts of the picture
    are loud noise for the correlation and count less, flat parts count more (the mark's
    strength varies less than the picture's)."""
    detail = _highpass(image)
    local = np.sqrt(cv2.GaussianBlur(detail**2, (0, 0), WHITEN_SIGMA)) + WHITEN_FLOOR
    return np.clip(detail / local, -3, 3)


@cache
def _templates(portrait: bool) -> tuple[Any, Any]:
    """The pilot at detection resolution (high-passed as the picture is), and each coded
    bit's cells there, as a [CODED_BITS, rows * cols] matrix of chip signs."""
    pilot, bit, chips = _layout(portrait)
    cols, rows = _grid(portrait)
    size = (2 * cols, 2 * rows)
    pilot_t = _highpass(cv2.resize(pilot, size, interpolation=cv2.INTER_LINEAR))
    per_bit = np.zeros((CODED_BITS, 2 * rows, 2 * cols), np.float32)
    for b in range(CODED_BITS):
        cells = np.where(bit == b, chips, 0).astype(np.float32)
        per_bit[b] = _highpass(cv2.resize(cells, size, interpolation=cv2.INTER_LINEAR))
    return pilot_t, per_bit.reshape(CODED_BITS, -1)


@cache
def _squared_templates(portrait: bool) -> Any:
    """Each coded bit's template squared, for the correlation's noise (kept: 5M values)."""
    return _templates(portrait)[1] ** 2


def content_box(mean_luma: Any) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the picture inside letterbox/pillarbox bars: the rows
    and columns at the edges whose luma stays within BAR_TOLERANCE of the corner's."""
    height, width = mean_luma.shape
    bar = float(np.median([mean_luma[0, 0], mean_luma[0, -1], mean_luma[-1, 0], mean_luma[-1, -1]]))
    off = np.abs(mean_luma - bar) > BAR_TOLERANCE
    rows = np.flatnonzero(off.mean(axis=1) > 0.02)
    cols = np.flatnonzero(off.mean(axis=0) > 0.02)
    if len(rows) == 0 or len(cols) == 0:
        return 0, height, 0, width
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    # Codecs smear a pixel or two of the bar edge into the picture: cut that too.
    inset = 2
    if top > 0:
        top += inset
    if bottom < height:
        bottom -= inset
    if left > 0:
        left += inset
    if right < width:
        right -= inset
    return int(top), int(bottom), int(left), int(right)


_Box = tuple[int, int, int, int]  # (top, bottom, left, right)


class _Alignment(BaseModel):
    score: float
    crop: float
    crop_y: float
    top: int
    left: int
    box: _Box


def _region(picture: Any, box: _Box) -> tuple[Any, bool]:
    """The picture inside `box`, shrunk (by area) to at most twice the detection size: the
    search resizes it dozens of times, and from a 1080p frame that would dominate."""
    top, bottom, left, right = box
    region = picture[top:bottom, left:right]
    height, width = region.shape
    pilot_t, _ = _templates(portrait=height > width)
    factor = min(1.0, 2 * pilot_t.shape[0] / height, 2 * pilot_t.shape[1] / width)
    if factor < 1.0:
        size = (round(width * factor), round(height * factor))
        region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
    return region, height > width


def _crop_shares() -> list[tuple[float, float]]:
    """(width, height) shares searched: both alike, then the width alone, the height alone."""
    both = np.arange(0.0, MAX_CROP + 1e-9, CROP_STEP)
    one = np.arange(CROP_STEP, MAX_ONE_SIDED + 1e-9, CROP_STEP)
    return (
        [(float(s), float(s)) for s in both]
        + [(float(s), 0.0) for s in one]
        + [(0.0, float(s)) for s in one]
    )


def _alignments(
    picture: Any, boxes: Sequence[_Box], workers: int | None = None
) -> list[_Alignment]:
    """The best pilot match at every crop share, for the picture inside each box. The
    shares are independent (OpenCV's resizes and matches release the GIL), so they are
    scored in chunks on up to `workers` threads (default: every core)."""
    regions = {box: _region(picture, box) for box in boxes}
    tasks = [(box, shares) for box in boxes for shares in _crop_shares()]

    def score(chunk: list[tuple[_Box, tuple[float, float]]]) -> list[_Alignment]:
        return [_align(*regions[box], box, shares) for box, shares in chunk]

    chunks = [tasks[i : i + SHARES_PER_CHUNK] for i in range(0, len(tasks), SHARES_PER_CHUNK)]
    per_chunk = map_frames(score, chunks, workers, per_worker=1)
    return [alignment for found in per_chunk for alignment in found]


def _align(region: Any, portrait: bool, box: _Box, shares: tuple[float, float]) -> _Alignment:
    """The best pilot match for `region` (the picture inside `box`) read as a crop of
    these (width, height) shares of the marked frame."""
    share, share_y = shares
    pilot_t, _ = _templates(portrait)
    padded = _padded_pilot(portrait)
    size = (round(pilot_t.shape[1] * (1 - share)), round(pilot_t.shape[0] * (1 - share_y)))
    view = _whiten(cv2.resize(region, size, interpolation=cv2.INTER_AREA))
    correlation = cv2.matchTemplate(padded, view, cv2.TM_CCORR)
    norm = float(np.sqrt(np.sum(view**2))) * _pilot_rms(portrait) + 1e-6
    y, x = np.unravel_index(int(np.argmax(correlation)), correlation.shape)
    return _Alignment(
        score=float(correlation[y, x]) / norm,
        crop=share,
        crop_y=share_y,
        top=int(y) - SLACK,
        left=int(x) - SLACK,
        box=box,
    )


@cache
def _padded_pilot(portrait: bool) -> Any:
    return np.pad(_templates(portrait)[0], SLACK)


@cache
def _pilot_rms(portrait: bool) -> float:
    return float(np.sqrt(np.mean(_templates(portrait)[0] ** 2)))


def _distinct(
    candidates: list[_Alignment], count: int, chosen: list[_Alignment]
) -> list[_Alignment]:
    """`chosen`, then the best alignments up to `count`, skipping near-copies of one
    already chosen (neighbouring crop shares find the same place)."""
    chosen = list(chosen)
    for candidate in sorted(candidates, key=lambda a: -a.score):
        if any(
            c.box == candidate.box
            and abs(c.crop - candidate.crop) <= 3 * CROP_STEP
            and abs(c.crop_y - candidate.crop_y) <= 3 * CROP_STEP
            and abs(c.top - candidate.top) + abs(c.left - candidate.left) <= 4
            for c in chosen
        ):
            continue
        chosen.append(candidate)
        if len(chosen) == count:
            break
    return chosen


def _read_bits(picture: Any, alignment: _Alignment) -> Any:
    """Each coded bit's correlation z at this alignment."""
    region, portrait = _region(picture, alignment.box)
    pilot_t, per_bit = _templates(portrait)
    rows, cols = pilot_t.shape
    size = (round(cols * (1 - alignment.crop)), round(rows * (1 - alignment.crop_y)))
    view = _whiten(cv2.resize(region, size, interpolation=cv2.INTER_AREA))
    canvas = np.zeros((rows, cols), np.float32)
    y0, x0 = alignment.top, alignment.left
    ys, xs = max(y0, 0), max(x0, 0)
    ye, xe = min(y0 + view.shape[0], rows), min(x0 + view.shape[1], cols)
    canvas[ys:ye, xs:xe] = view[ys - y0 : ye - y0, xs - x0 : xe - x0]
    flat = canvas.reshape(-1)
    correlation = per_bit @ flat
    noise = np.sqrt(_squared_templates(portrait) @ (flat**2)) + 1e-6
    return correlation / noise


def decode(z: Any) -> str | None:
    """The identifier of the most likely payload whose check code holds, among the
    LIST_SIZE most likely for these coded bits' z; None when none holds."""
    for bits in list_decode(z):
        identifier = parse_bits(bits)
        if identifier is not None:
            return identifier
    return None


def mark_strength(
    frames: np.ndarray[Any, Any], identifier_hex: str, workers: int | None = None
) -> float:
    """How much mark marked `frames` carry: the mean z of the coded bits read at the whole
    frame, signed by the bits embedded (before any codec: what the footage could take).
    Below WEAK_MARK_Z the stamp warns; near 0 the footage took none (near-black or flat
    frames, where SSIM allows almost no change, or 1-pixel noise-like content)."""
    picture = average_luma(frames, workers).mean()
    if picture is None:
        return 0.0
    height, width = picture.shape
    whole = _Alignment(score=0.0, crop=0.0, crop_y=0.0, top=0, left=0, box=(0, height, 0, width))
    signs = np.asarray(encode_payload(payload_bits(identifier_hex))) * 2 - 1
    return float(np.mean(_read_bits(picture, whole) * signs))


class LumaAverage:
    """The running mean luma of a video's frames, one frame at a time (constant memory).

    The mark is the same in every frame and the picture is not, so the mean keeps the mark
    and averages the picture (and the codec's noise) down; frames too small to read, or of
    another size than the first, are skipped.
    """

    def __init__(self) -> None:
        self.total: Any = None
        self.count = 0

    def add(self, frame_rgb: np.ndarray[Any, Any]) -> None:
        if min(frame_rgb.shape[:2]) < MIN_READ_SIDE:
            return
        luma = _gray(frame_rgb)
        if self.total is None:
            self.total = np.zeros(luma.shape, np.float64)
        elif self.total.shape != luma.shape:
            return
        cv2.accumulate(luma, self.total)  # one pass, no float copy of the frame
        self.count += 1

    def mean(self) -> Any:
        return None if self.total is None else (self.total / self.count).astype(np.float32)

    @classmethod
    def of(cls, frames: Iterable[np.ndarray[Any, Any]]) -> LumaAverage:
        average = cls()
        for frame in frames:
            average.add(frame)
        return average

    @classmethod
    def merged(cls, parts: Sequence[LumaAverage]) -> LumaAverage:
        """The average of the frames of all `parts`, in order (a part of another frame
        size than the first part's is skipped, as `add` skips such a frame)."""
        merged = cls()
        for part in parts:
            if part.total is None:
                continue
            if merged.total is None:
                merged.total, merged.count = part.total.copy(), part.count
            elif merged.total.shape == part.total.shape:
                merged.total += part.total
                merged.count += part.count
        return merged


def _describe(alignment: _Alignment, shape: tuple[int, int]) -> str:
    top, bottom, left, right = alignment.box
    parts = []
    if (top, bottom, left, right) != (0, shape[0], 0, shape[1]):
        parts.append(f"picture at rows {top}-{bottom}, columns {left}-{right} (bars cut)")
    if max(alignment.crop, alignment.crop_y) > CROP_STEP / 2:
        pilot_t, _ = _templates(portrait=(bottom - top) > (right - left))
        rows, cols = pilot_t.shape
        shares = f"{alignment.crop:.1%}"
        if alignment.crop != alignment.crop_y:
            shares += f" of the width, {alignment.crop_y:.1%} of the height,"
        parts.append(
            f"crop {shares} at ({alignment.left / cols:.1%} from the left, "
            f"{alignment.top / rows:.1%} from the top)"
        )
    return "; ".join(parts) or "whole frame"


def average_luma(frames: Iterable[np.ndarray[Any, Any]], workers: int | None = None) -> LumaAverage:
    """The frames' mean luma. Frames already in memory (an array or a list) are summed in
    chunks on up to `workers` threads (default: every core); a stream, one at a time."""
    if not isinstance(frames, (np.ndarray, list)):
        return LumaAverage.of(frames)
    chunks = [
        c for c in np.array_split(np.arange(len(frames)), workers or affinity_cores()) if len(c)
    ]
    parts = map_frames(
        lambda chunk: LumaAverage.of(frames[i] for i in chunk), chunks, workers, per_worker=1
    )
    return LumaAverage.merged(parts)


def read_video(
    frames: Iterable[np.ndarray[Any, Any]], workers: int | None = None
) -> WatermarkReading:
    """Read the payload from frames (all of a video's, or a sample), on up to `workers`
    threads (default: every core)."""
    return read_average(average_luma(frames, workers), workers)


def read_average(average: LumaAverage, workers: int | None = None) -> WatermarkReading:
    """Find the alignment by the pilot in the frames' mean luma (on up to `workers` threads),
    then read the payload at the READINGS best alignments."""
    picture, count = average.mean(), average.count
    if picture is None:
        return WatermarkReading(
            found=False, frames_read=0, bit_confidence=0.0, sync_score=0.0, readings=0
        )
    height, width = picture.shape
    boxes = {(0, height, 0, width)}
    top, bottom, left, right = content_box(picture)
    if min(bottom - top, right - left) >= MIN_READ_SIDE:
        boxes.add((top, bottom, left, right))
    candidates = _alignments(picture, sorted(boxes), workers)
    # The picture as delivered (whole frame, or inside its bars) is read whatever the pilot
    # says: it is the commonest delivery, and where the codec left the pilot too faint to
    # stand out from the search's best chance peak, the payload can still be there.
    whole = [
        a.model_copy(update={"top": 0, "left": 0}) for a in candidates if a.crop == a.crop_y == 0.0
    ]
    best = _distinct(candidates, READINGS, sorted(whole, key=lambda a: -a.score))
    first_z = 0.0
    for index, alignment in enumerate(best):
        z = _read_bits(picture, alignment)
        confidence = round(float(np.mean(np.abs(z))), 3)
        first_z = first_z or confidence
        identifier = decode(z)
        if identifier is not None:
            return WatermarkReading(
                found=True,
                payload=identifier,
                frames_read=count,
                bit_confidence=confidence,
                sync_score=round(alignment.score, 2),
                alignment=_describe(alignment, (height, width)),
                readings=index + 1,
            )
    return WatermarkReading(
        found=False,
        frames_read=count,
        bit_confidence=first_z,
        sync_score=round(best[0].score, 2) if best else 0.0,
        readings=len(best),
    )
