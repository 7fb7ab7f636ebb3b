"""The provenance code lives in `provenance/`: imports, the command line and the docs say so."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from vidflow.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["watermark", "label", "c2pa_sign", "stamp", "verify", "bench.watermark_robustness",
           "bench.watermark_cost"]  # fmt: skip


@pytest.mark.parametrize("module", MODULES)
def test_each_part_is_imported_from_provenance_and_not_from_moderation(module: str) -> None:
    assert importlib.util.find_spec(f"provenance.{module}") is not None
    assert importlib.util.find_spec(f"moderation.{module}") is None
    assert importlib.util.find_spec("moderation.provenance") is None


def test_the_verify_command_is_provenance_s() -> None:
    parser = build_parser()
    args = parser.parse_args(["verify", "clip.mp4"])
    assert args.handler.__module__ == "provenance.verify"


def test_docs_point_at_provenance() -> None:
    readme = (ROOT / "README.md").read_text()
    benchmarks = (ROOT / "docs" / "benchmarks.md").read_text()
    design = (ROOT / "docs" / "watermark.md").read_text()
    for text in (readme, benchmarks, design):
        for old in ("moderation/watermark", "moderation.watermark", "moderation/provenance",
                    "moderation.bench.watermark", "moderation/bench/watermark", "moderation/verify",
                    "moderation.verify", "moderation/c2pa", "moderation/label"):  # fmt: skip
            assert old not in text
    assert "provenance/" in readme and "docs/watermark.md" in readme
    assert "python -m provenance.bench.watermark_robustness" in benchmarks
    for module in ("provenance/watermark.py", "provenance/bench/watermark_robustness.py"):
        assert module in design and (ROOT / module).is_file()
