from __future__ import annotations

import json

import pytest

from vidflow.cli import main


def test_presets_lists_every_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "fastwan2.1-t2v-1.3b" in out and "Wan-AI/Wan2.1-T2V-14B-Diffusers" in out
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("│ ")}
    assert "ti2v" in rows["tiny-ti2v"].split() and "vsa 0.8" in rows["fastwan2.1-t2v-1.3b"]


def test_plan_for_a_hypothetical_card(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--preset", "wan2.1-t2v-1.3b", "--vram-gib", "6"]) == 0
    plan = json.loads(capsys.readouterr().out.split(":\n", 1)[1])
    assert (plan["offload"], plan["park_transformer"], plan["fits"]) == ("text_encoder", True, True)
    assert plan["vae_tile"]["tile_sample_min_height"] == 480
    assert main(["plan", "--preset", "wan2.1-t2v-14b", "--vram-gib", "8"]) == 1
    assert "smallest card that would fit" in capsys.readouterr().out
