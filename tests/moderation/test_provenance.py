"""Watermark, label, C2PA and verify: real encode and decode, real mp4 files, real signing."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from moderation.bench.watermark_robustness import ATTACKS, animate, sample_images
from moderation.c2pa_sign import load_credentials
from moderation.label import LabelStyle, draw_label, label_score
from moderation.provenance import Stamper, encode_h264
from moderation.verify import verify_file
from moderation.watermark import embed_video, parse_bits, payload_bits, read_video
from vidflow.cli import main
from vidflow.settings import Settings
from vidflow.spec import Job, JobSpec

# Measured weakness (docs/benchmarks.md): CRF 35 keeps too few bits in a small clip.
MISSED = {"h264 crf 35"}


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return animate(sample_images()[0], seed=3)


@pytest.fixture(scope="module")
def marked(clip: np.ndarray) -> np.ndarray:
    return embed_video(clip, "c0ffee42")


def job() -> Job:
    from generation.presets import resolve_job

    return resolve_job(JobSpec(id="clip", prompt="a pan across a photo"), "clip.yaml", "tiny")


def test_payload_carries_a_check_code() -> None:
    bits = payload_bits("c0ffee42")
    assert len(bits) == 56 and parse_bits(bits) == "c0ffee42"
    flipped = bits.copy()
    flipped[3] ^= 1
    assert parse_bits(flipped) is None


def test_round_trip_and_no_false_hit_on_the_clean_clip(clip: np.ndarray, marked: np.ndarray):
    assert read_video(marked).payload == "c0ffee42"
    assert read_video(clip).found is False
    psnr = 10 * np.log10(255**2 / np.mean((marked.astype(float) - clip) ** 2))
    assert psnr > 30


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_every_attack_of_the_benchmark(marked: np.ndarray, attack: str) -> None:
    reading = read_video(ATTACKS[attack](marked))
    if attack in MISSED:  # never a wrong job id, though
        assert reading.payload in (None, "c0ffee42")
    else:
        assert reading.payload == "c0ffee42"


def test_decoding_names_the_edit_it_undid(marked: np.ndarray) -> None:
    assert read_video(marked).undone is None
    assert read_video(ATTACKS["crop 10%"](marked)).undone == "crop 10%"


@pytest.fixture(scope="module")
def noise_clip() -> np.ndarray:
    """Like the tiny preset's random-weight output: smooth noise, a new pattern each frame."""
    rng = np.random.default_rng(0)
    coarse = rng.uniform(0, 255, (17, 64, 64, 3)).astype(np.float32)
    frames = [cv2.resize(f, (256, 256), interpolation=cv2.INTER_CUBIC) for f in coarse]
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("attack", ["none", "h264 crf 28", "resize 0.5x and back"])
def test_noise_like_frames_carry_the_watermark(noise_clip: np.ndarray, attack: str) -> None:
    marked = embed_video(noise_clip, "0badf00d")
    assert read_video(ATTACKS[attack](marked)).payload == "0badf00d"
    assert read_video(ATTACKS[attack](noise_clip)).found is False


def test_frames_below_the_minimum_size_are_refused_not_misread(clip: np.ndarray) -> None:
    small = np.ascontiguousarray(clip[:, :128, :128])
    with pytest.raises(ValueError, match="too small"):
        embed_video(small, "c0ffee42")
    assert read_video(small).frames_read == 0 and read_video(small).found is False


def test_label_is_drawn_and_detected(clip: np.ndarray) -> None:
    style = LabelStyle()
    labelled = draw_label(clip, style)
    assert label_score(labelled, style) > 0.9 and label_score(clip, style) < 0.5
    changed = np.any(labelled != clip, axis=(0, 3))
    rows, cols = np.nonzero(changed)
    assert rows.min() > clip.shape[1] // 2 and cols.min() > clip.shape[2] // 2  # bottom right


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def stamped(
    clip: np.ndarray, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("out") / "clip.mp4"
    report = Stamper(settings).stamp(clip, 16, out, job())
    return out, report


def test_stamped_video_verifies_as_marked(stamped: tuple[Path, object]) -> None:
    path, report = stamped
    result = verify_file(path)
    assert result.status == "marked"
    assert result.watermark.payload == job().content_hash[:8] == report.watermark.payload
    assert result.c2pa.present and result.c2pa.valid and not result.c2pa.trusted
    assert result.c2pa.claims["job"]["job_hash"] == job().content_hash
    action = result.c2pa.claims["actions"][0]
    assert action["action"] == "c2pa.created"
    assert action["digitalSourceType"].endswith("/trainedAlgorithmicMedia")
    assert result.label_present and report.c2pa.development_certificate
    assert not list(path.parent.glob(".*"))  # no temporary files left behind


def test_unmarked_video_verifies_as_unmarked(clip: np.ndarray, tmp_path: Path) -> None:
    plain = tmp_path / "plain.mp4"
    encode_h264(clip, 16, plain)
    result = verify_file(plain)
    assert (result.status, result.watermark.found, result.c2pa.present) == (
        "unmarked", False, False,
    )  # fmt: skip
    assert not result.label_present
    assert main(["verify", str(plain)]) == 1


def test_tampered_video_verifies_as_tampered(stamped: tuple[Path, object], tmp_path: Path):
    path, _ = stamped
    tampered = tmp_path / "tampered.mp4"
    shutil.copy(path, tampered)
    data = bytearray(tampered.read_bytes())
    mdat = data.find(b"mdat")
    for offset in range(mdat + 64, mdat + 4096, 97):  # change the picture, not the manifest
        data[offset] ^= 0xFF
    tampered.write_bytes(bytes(data))
    result = verify_file(tampered)
    assert result.status == "tampered" and result.c2pa.errors
    assert main(["verify", "--json", str(tampered)]) == 2


def test_the_signing_key_never_reaches_logs_or_reports(
    clip: np.ndarray, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(cache_dir=tmp_path / "cache")
    report = Stamper(settings).stamp(clip[:9], 16, tmp_path / "a.mp4", job())
    key = load_credentials(settings).key_pem.decode()
    secret = key.splitlines()[1]
    assert secret not in caplog.text
    assert secret not in report.model_dump_json()
    assert secret not in verify_file(tmp_path / "a.mp4").model_dump_json()
    assert "key_pem" not in load_credentials(settings).model_dump()


def test_a_configured_certificate_is_not_labelled_development(
    settings: Settings, tmp_path: Path
) -> None:
    dev = load_credentials(settings)
    cert, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    cert.write_bytes(dev.cert_chain_pem)
    key.write_bytes(dev.key_pem)
    production = Settings(cache_dir=tmp_path, c2pa_cert=cert, c2pa_key=str(key))
    credentials = load_credentials(production)
    assert credentials.development is False and credentials.key_pem == dev.key_pem
    assert "c2pa_key" not in repr(production) or "**********" in repr(production)


def test_one_uncertain_bit_error_is_repaired_but_noise_is_not() -> None:
    from moderation.watermark import _repair

    bits = np.asarray(payload_bits("c0ffee42"))
    votes = bits.astype(float) * 0.9 + 0.05  # confident votes...
    votes[10] = 0.45 if bits[10] else 0.55  # ...but one bit narrowly voted wrong
    voted = (votes >= 0.5).astype(int)
    assert parse_bits(voted) is None
    identifier, repaired = _repair(votes, voted)
    assert identifier == "c0ffee42" and list(repaired) == list(bits)
    rng = np.random.default_rng(1)
    misses = sum(
        _repair(v, (v >= 0.5).astype(int))[0] is None for v in rng.uniform(0, 1, (200, 56))
    )
    assert misses == 200  # random votes never pass the check, even with repair
