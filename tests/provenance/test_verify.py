"""`vidflow verify`: marked, unmarked and tampered files, as a report and as an exit code."""

# Fixtures are imported from provenance_fixtures and named again as test arguments.
# ruff: noqa: F811

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from provenance_fixtures import clip, make_job, settings, stamped  # noqa: F401

from provenance.stamp import ProvenanceReport, encode_h264
from provenance.verify import verify_file
from provenance.watermark import FALSE_MATCH_BOUND, LIST_SIZE, READINGS
from vidflow.cli import main


def test_stamped_video_verifies_as_marked(
    stamped: tuple[Path, ProvenanceReport], capsys: pytest.CaptureFixture[str]
) -> None:
    path, report = stamped
    result = verify_file(path)
    assert result.status == "marked"
    assert result.watermark.payload == make_job().content_hash[:8] == report.watermark.payload
    assert result.watermark.frames_read == 33 and result.watermark.alignment == "whole frame"
    assert result.c2pa.valid and result.label_present
    assert main(["verify", "--json", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "marked"
    assert main(["verify", str(path)]) == 0
    assert "found, job " + report.watermark.payload in capsys.readouterr().out


def test_unmarked_video_verifies_as_unmarked(clip: np.ndarray, tmp_path: Path) -> None:
    plain = tmp_path / "plain.mp4"
    encode_h264(clip, 16, plain)
    result = verify_file(plain)
    assert (result.status, result.watermark.found, result.c2pa.present) == (
        "unmarked", False, False,
    )  # fmt: skip
    assert not result.label_present
    assert main(["verify", str(plain)]) == 1


def test_tampered_video_verifies_as_tampered(
    stamped: tuple[Path, ProvenanceReport], tmp_path: Path
) -> None:
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


def _broken(kind: str, stamped: Path, folder: Path) -> Path:
    """A file that is not a readable video, of one kind."""
    path = folder / f"{kind}.mp4"
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    if kind == "missing":
        return path
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(stamped.read_bytes()[:3000])
    elif kind == "text":
        path.write_text("this is a prompt file, not a video\n")
    elif kind == "folder":
        path.mkdir()
    elif kind == "tiny frames":
        encode_h264(np.zeros((5, 64, 64, 3), np.uint8), 16, path)
    elif kind == "audio only":
        subprocess.run(
            [
                ffmpeg,
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "sine=duration=1",
                "-c:a",
                "aac",
                str(path),
            ],
            check=True,
        )
    return path


@pytest.mark.parametrize(
    "kind", ["missing", "empty", "truncated", "text", "folder", "tiny frames", "audio only"]
)
def test_a_file_that_is_not_a_readable_video_says_so_in_one_line_and_exits_3(
    stamped: tuple[Path, ProvenanceReport],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
) -> None:
    path = _broken(kind, stamped[0], tmp_path)
    assert main(["verify", str(path)]) == 3
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith(f"error: {path}")
    assert "Traceback" not in err
    assert main(["verify", "--json", str(path)]) == 3


def test_an_edited_manifest_claim_verifies_as_tampered(
    stamped: tuple[Path, ProvenanceReport], tmp_path: Path
) -> None:
    path, _ = stamped
    data = path.read_bytes()
    job_hash = make_job().content_hash.encode()
    assert job_hash in data
    forged = tmp_path / "forged.mp4"
    forged.write_bytes(data.replace(job_hash, job_hash[::-1]))  # claim another job
    result = verify_file(forged)
    assert result.status == "tampered" and not result.c2pa.valid
    assert main(["verify", str(forged)]) == 2


def test_help_states_the_false_match_bound_and_where_it_comes_from(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"at most {FALSE_MATCH_BOUND:.1e}" in text
    assert f"{READINGS} readings x {LIST_SIZE} decoder candidates" in text
