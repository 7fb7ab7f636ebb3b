"""The planner as a table: probe x preset x job -> plan level and fit."""

from __future__ import annotations

import pytest

from generation.planner import decode_gib, make_plan, predicted_peak_gib, replan_after_oom
from generation.presets import get_preset, resolve_job
from generation.probe import Probe
from vidflow.spec import Job, JobSpec


def gpu(total: float, cc: tuple[int, int] = (9, 0)) -> Probe:
    return Probe(gpu_name="test GPU", compute_capability=cc, gpu_total_gib=total,
                 gpu_free_gib=total, host_ram_gib=128)  # fmt: skip


def job(preset: str, **fields: object) -> Job:
    spec = JobSpec.model_validate({"id": "j", "prompt": "x", "preset": preset, **fields})
    return resolve_job(spec, "j.yaml", "tiny")


@pytest.mark.parametrize(
    ("preset", "card_gib", "fields", "level", "offload", "fits"),
    [
        ("wan2.1-t2v-1.3b", 80, {}, 0, "none", True),  # measured 24.5 GiB peak
        ("wan2.1-t2v-1.3b", 24, {}, 1, "text_encoder", True),  # measured 12.0 GiB peak
        ("wan2.1-t2v-1.3b", 16, {}, 1, "text_encoder", True),
        ("wan2.1-t2v-1.3b", 12, {}, 2, "text_encoder", True),
        ("wan2.1-t2v-1.3b", 8, {}, 3, "text_encoder", True),
        ("wan2.1-t2v-1.3b", 6, {}, 3, "text_encoder", True),  # measured 4.1 GiB peak
        ("wan2.1-t2v-1.3b", 4, {}, 4, "group", True),
        ("wan2.1-t2v-1.3b", 3, {}, 4, "group", False),
        ("wan2.1-t2v-1.3b", 24, {"width": 320, "height": 192, "num_frames": 33}, 0, "none", True),
        ("wan2.1-t2v-14b", 80, {}, 0, "none", True),
        ("wan2.1-t2v-14b", 48, {}, 2, "text_encoder", True),
        ("wan2.1-t2v-14b", 40, {}, 4, "group", True),
        ("wan2.1-t2v-14b", 24, {}, 4, "group", True),
        ("wan2.1-t2v-14b", 8, {}, 4, "group", False),
        ("fastwan2.1-t2v-1.3b", 6, {}, 3, "text_encoder", True),
    ],
)
def test_plan_table(
    preset: str, card_gib: float, fields: dict[str, object], level: int, offload: str, fits: bool
) -> None:
    plan = make_plan(get_preset(preset), job(preset, **fields), gpu(card_gib))
    assert (plan.level, plan.offload, plan.fits) == (level, offload, fits)
    assert plan.device == "cuda" and plan.dtype == "bfloat16"
    if fits:
        assert plan.predicted_peak_gib <= plan.budget_gib < card_gib
    else:
        assert "smallest card that would fit" in plan.reason


def test_peak_shrinks_down_the_ladder() -> None:
    preset = get_preset("wan2.1-t2v-1.3b")
    peaks = [predicted_peak_gib(preset, job(preset.name), level) for level in range(5)]
    assert peaks == sorted(peaks, reverse=True) and peaks[0] > 2 * peaks[4]


def test_only_resident_transformers_are_compiled() -> None:
    """Regional compile traced through group offloading's hooks fails (seen on the H100)."""
    preset = get_preset("wan2.1-t2v-1.3b")
    plans = [make_plan(preset, job(preset.name), gpu(card)) for card in (80, 24, 12, 6, 4)]
    assert [(p.level, p.compile) for p in plans] == [
        (0, True), (1, True), (2, True), (3, True), (4, False)
    ]  # fmt: skip


def test_cpu_plan_and_fp16_on_older_gpus() -> None:
    preset = get_preset("tiny")
    assert make_plan(preset, job("tiny"), Probe()).model_dump(include={"device", "dtype"}) == {
        "device": "cpu",
        "dtype": "float32",
    }
    turing = make_plan(get_preset("wan2.1-t2v-1.3b"), job("wan2.1-t2v-1.3b"), gpu(80, (7, 5)))
    assert turing.dtype == "float16"


def test_replan_after_oom_goes_one_level_more_frugal_then_gives_up() -> None:
    preset, j, probe = get_preset("wan2.1-t2v-1.3b"), job("wan2.1-t2v-1.3b"), gpu(80)
    plan = make_plan(preset, j, probe)
    levels = []
    while plan is not None:
        levels.append(plan.level)
        plan = replan_after_oom(preset, j, probe, plan)
    assert levels == [0, 1, 2, 3, 4]
    assert replan_after_oom(get_preset("tiny"), job("tiny"), Probe(), make_plan(
        get_preset("tiny"), job("tiny"), Probe())) is None  # fmt: skip


def test_vae_tiles_are_the_largest_that_fit_and_cover_the_frame() -> None:
    preset, j = get_preset("wan2.1-t2v-1.3b"), job("wan2.1-t2v-1.3b")
    plans = [make_plan(preset, j, gpu(card)) for card in (12, 6, 4)]
    areas = [p.vae_tile["tile_sample_min_height"] * p.vae_tile["tile_sample_min_width"]
             for p in plans]  # fmt: skip
    assert areas == sorted(areas, reverse=True) and len(set(areas)) == 3
    for plan in plans:
        tile = plan.vae_tile
        assert plan.vae_tiling and plan.predicted_peak_gib <= plan.budget_gib
        for side, size in (("height", j.height), ("width", j.width)):
            stride = tile[f"tile_sample_stride_{side}"]
            overlap = tile[f"tile_sample_min_{side}"] - stride
            # Strides in whole latent patches; neighbours overlap unless one tile spans the side.
            assert stride % 16 == 0 and (overlap > 0 or stride == size)
            tiles = -(-size // stride)
            assert (
                (tiles - 1) * stride
                < size
                <= (tiles - 1) * stride + tile[f"tile_sample_min_{side}"]
            )
    assert decode_gib(preset, j, plans[-1].vae_tile) < decode_gib(preset, j) / 2


def test_only_the_parking_level_frees_the_transformer_for_the_decode() -> None:
    preset, j = get_preset("wan2.1-t2v-1.3b"), job("wan2.1-t2v-1.3b")
    plans = {card: make_plan(preset, j, gpu(card)) for card in (80, 24, 12, 6, 4)}
    assert [card for card, plan in plans.items() if plan.park_transformer] == [6]
