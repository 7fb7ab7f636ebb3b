"""The invisible watermark: payload, quality, each attack family delivered at its own size,
and the false-match bound on clean clips."""

# Fixtures are imported from provenance_fixtures and named again as test arguments.
# ruff: noqa: F811

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from provenance_fixtures import PAYLOAD, clip, marked, noise_clip  # noqa: F401

from provenance import watermark
from provenance.bench.watermark_robustness import animate, attack, encode, lavfi, sample_images
from provenance.verify import read_frames, read_watermark
from provenance.watermark import (
    CHECK_BITS,
    CODED_BITS,
    FALSE_MATCH_BOUND,
    LIST_SIZE,
    PAYLOAD_BITS,
    READINGS,
    LumaAverage,
    average_luma,
    content_box,
    decode,
    embed_video,
    encode_payload,
    list_decode,
    map_frames,
    parse_bits,
    payload_bits,
    read_average,
    read_video,
)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A marked 832x480 clip of 25 frames (1.6 s at 16 fps), published as H.264 CRF 18."""
    frames = animate(sample_images()[1], seed=4, size=(832, 480), frames=25)
    path = tmp_path_factory.mktemp("published") / "marked.mp4"
    encode(embed_video(frames, PAYLOAD), path)
    return path


def test_payload_carries_a_check_code() -> None:
    bits = payload_bits(PAYLOAD)
    assert len(bits) == PAYLOAD_BITS == 64 and parse_bits(bits) == PAYLOAD
    flipped = bits.copy()
    flipped[3] ^= 1
    assert parse_bits(flipped) is None


def test_round_trip_and_image_quality(clip: np.ndarray, marked: np.ndarray) -> None:
    from skimage.metrics import structural_similarity

    assert read_video(marked).payload == PAYLOAD
    assert read_video(marked).alignment == "whole frame"
    psnr = 10 * np.log10(255**2 / np.mean((marked.astype(float) - clip) ** 2))
    ssim = structural_similarity(clip[5], marked[5], channel_axis=2)
    assert psnr >= 40 and ssim >= 0.98


# One attack of each family, delivered at the size it produces: codec, rescale (down and up,
# aspect changed), bars, crop at a corner (kept at its size, and scaled back), frame rate,
# trim, and everything at once.
FAMILIES = [
    "h264 crf 28",
    "vp9 crf 35",
    "0.5x",
    "to 1280x720",
    "into 1080x1920 (fit, bars)",
    "crop 10% tr",
    "crop 10% bl scaled back",
    "16 to 30 fps",
    "first second cut",
    "crop 10% tl + 0.75x + crf 28",
]


@pytest.mark.parametrize("name", FAMILIES)
def test_each_attack_family_reads_back_at_the_delivered_size(
    published: Path, tmp_path: Path, name: str
) -> None:
    delivered = attack(published, name, tmp_path)
    reading = read_watermark(delivered)
    assert reading.payload == PAYLOAD, reading
    assert reading.readings <= READINGS


def test_the_reading_says_where_the_picture_was(published: Path, tmp_path: Path) -> None:
    cropped = read_watermark(attack(published, "crop 10% br", tmp_path))
    found = re.fullmatch(
        r"crop ([\d.]+)% at \(([\d.]+)% from the left, ([\d.]+)% .*", str(cropped.alignment)
    )
    assert found is not None, cropped.alignment
    assert all(abs(float(share) - 10) <= 1 for share in found.groups())
    boxed = read_watermark(attack(published, "into 1080x1920 (fit, bars)", tmp_path))
    assert boxed.alignment is not None and "(bars cut)" in boxed.alignment


def test_a_crop_of_one_side_only_is_found(published: Path, tmp_path: Path) -> None:
    """A platform filling a narrower aspect ratio cuts the width and keeps the height."""
    reading = read_watermark(attack(published, "crop 20% of the width, right", tmp_path))
    assert reading.payload == PAYLOAD, reading
    found = re.fullmatch(
        r"crop ([\d.]+)% of the width, ([\d.]+)% of the height, at \(([\d.]+)% .*",
        str(reading.alignment),
    )
    assert found is not None, reading.alignment
    width, height, left = (float(v) for v in found.groups())
    assert abs(width - 20) <= 1 and height <= 1 and abs(left - 20) <= 1


def test_letterbox_bars_are_found() -> None:
    picture = np.zeros((1920, 1080), np.float32)
    picture[660:1260] = np.random.default_rng(0).uniform(20, 230, (600, 1080))
    assert content_box(picture) == (662, 1258, 0, 1080)


def test_false_match_bound_follows_from_the_check_bits_and_candidates() -> None:
    assert FALSE_MATCH_BOUND == READINGS * LIST_SIZE / 2**CHECK_BITS
    assert FALSE_MATCH_BOUND <= 1e-6


def test_each_reading_hands_at_most_list_size_candidates_to_the_check() -> None:
    checked: list[list[int]] = []
    rng = np.random.default_rng(3)
    for z in rng.normal(0, 1, (5, CODED_BITS)):
        paths = list_decode(z)
        checked += paths
        assert len(paths) == LIST_SIZE
        assert len({tuple(p) for p in paths}) == LIST_SIZE  # distinct payloads
    assert all(len(p) == PAYLOAD_BITS for p in checked)


def test_clean_clips_never_match(noise_clip: np.ndarray, tmp_path: Path) -> None:
    """Unmarked footage of every kind the benchmark uses, encoded, read as verify reads."""
    images = sample_images()
    clips = [noise_clip] + [
        lavfi(source, size, 9, seed)
        for seed, (source, size) in enumerate(
            [("testsrc2", (832, 480)), ("mandelbrot", (1280, 720)), ("cellauto", (480, 832))]
        )
    ]
    clips += [animate(images[i], i, (832, 480), 9) for i in range(4)]
    for index, frames in enumerate(clips):
        path = tmp_path / f"clean{index}.mp4"
        encode(frames, path, crf=23)
        reading = read_watermark(path)
        assert not reading.found and reading.readings == READINGS, reading


def test_noise_pictures_never_match_even_after_every_reading() -> None:
    rng = np.random.default_rng(7)
    for _ in range(30):
        average = LumaAverage()
        average.add(rng.integers(0, 256, (480, 832, 3), dtype=np.uint8))
        assert not read_average(average).found


def test_the_code_corrects_weak_and_wrong_coded_bits_but_noise_never_passes() -> None:
    coded = np.asarray(encode_payload(payload_bits(PAYLOAD)))
    assert len(coded) == CODED_BITS
    assert list_decode((coded * 2 - 1) * 3.0)[0] == payload_bits(PAYLOAD)
    rng = np.random.default_rng(1)
    # A weak mark: coded bits at z ~1 in unit noise, about one in six of them read wrong.
    weak = [(coded * 2 - 1) * 1.2 + rng.normal(0, 1, CODED_BITS) for _ in range(20)]
    assert np.mean([np.sum((z > 0) != coded) for z in weak]) > 15
    assert sum(decode(z) == PAYLOAD for z in weak) >= 18
    # The check code throws out the list's candidates when there is no mark.
    assert all(decode(z) is None for z in rng.normal(0, 1, (200, CODED_BITS)))


def test_noise_like_frames_carry_the_watermark(noise_clip: np.ndarray) -> None:
    marked = embed_video(noise_clip, "0badf00d")
    assert read_video(marked).payload == "0badf00d"
    assert read_video(noise_clip).found is False


def test_threads_mark_every_frame_as_one_thread_does(clip: np.ndarray) -> None:
    assert np.array_equal(embed_video(clip, PAYLOAD, workers=4), embed_video(clip, PAYLOAD, 1))
    assert map_frames(lambda x: x * 2, list(range(40)), workers=4) == list(range(0, 80, 2))


def test_threads_read_as_one_thread_does(clip: np.ndarray) -> None:
    """The alignment search and the frame average split over threads find what one thread
    finds: the same alignments in the same order, the same mean luma, the same reading."""
    marked = embed_video(clip, PAYLOAD)
    count, height, width, _ = marked.shape
    letterboxed = np.zeros((count, height + 80, width, 3), np.uint8)
    letterboxed[:, 40 : 40 + height] = marked
    one, four = average_luma(letterboxed, 1), average_luma(list(letterboxed), 4)
    assert one.count == four.count == len(marked)
    assert np.allclose(one.mean(), four.mean(), atol=1e-4)
    picture = one.mean()
    boxes = [(0, height + 80, 0, width), content_box(picture)]
    assert boxes[1] != boxes[0]
    assert watermark._alignments(picture, boxes, 1) == watermark._alignments(picture, boxes, 4)
    assert read_video(letterboxed, 4) == read_video(letterboxed, 1)
    assert read_video(letterboxed, 4).payload == PAYLOAD


def test_frames_below_the_minimum_size_are_refused_not_misread(clip: np.ndarray) -> None:
    small = np.ascontiguousarray(clip[:, :120, :120])
    with pytest.raises(ValueError, match="too small"):
        embed_video(small, PAYLOAD)
    assert read_video(small).frames_read == 0 and read_video(small).found is False


def test_portrait_frames_use_the_turned_grid(tmp_path: Path) -> None:
    frames = animate(sample_images()[3], seed=2, size=(480, 832), frames=9)
    marked = embed_video(frames, PAYLOAD)
    assert watermark._layout(True)[0].shape == (128, 72)
    assert read_video(marked).payload == PAYLOAD
    shrunk = np.stack([cv2.resize(f, (240, 416), interpolation=cv2.INTER_AREA) for f in marked])
    path = tmp_path / "portrait.mp4"
    encode(shrunk, path, crf=23)
    assert read_watermark(path).payload == PAYLOAD


def test_reading_averages_every_frame_and_keeps_a_sample(published: Path) -> None:
    video = read_frames(published, count=5)
    assert video.total == 25 and video.luma.count == 25 and len(video.sample) == 5
