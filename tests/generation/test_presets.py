from __future__ import annotations

from pathlib import Path

import pytest

from generation.presets import get_preset, list_presets, locate_weights, resolve_job
from vidflow.errors import ModelUnavailableError, SpecError
from vidflow.spec import JobSpec


def test_registry_has_the_documented_presets() -> None:
    assert {p.name for p in list_presets()} == {
        "tiny", "tiny-ti2v", "wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "fastwan2.1-t2v-1.3b", "wan2.2-ti2v-5b",
    }  # fmt: skip
    fast = get_preset("fastwan2.1-t2v-1.3b")
    assert fast.defaults.steps <= 4 and fast.defaults.guidance_scale <= 1.0
    assert fast.attention == "vsa" and fast.vsa_sparsity == 0.8
    assert (
        get_preset("tiny-ti2v").kind == "ti2v" and get_preset("wan2.2-ti2v-5b").size_multiple == 32
    )


def test_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known presets: fastwan"):
        get_preset("nope")
    spec = JobSpec(id="a", prompt="x", preset="nope")
    with pytest.raises(SpecError, match="a.yaml job 'a' field 'preset'"):
        resolve_job(spec, "a.yaml", "tiny")


def test_resolve_fills_defaults_and_keeps_explicit_values() -> None:
    spec = JobSpec(id="a", prompt="x", width=320, guidance_scale=0.0)
    job = resolve_job(spec, "a.yaml", "wan2.1-t2v-1.3b")
    assert (job.width, job.height, job.num_frames, job.steps) == (320, 480, 81, 50)
    assert job.guidance_scale == 0.0 and job.model_id == "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"


def test_image_rules_follow_the_preset_kind(tmp_path: Path) -> None:
    source = tmp_path / "a.yaml"
    with pytest.raises(SpecError, match="field 'image'.*takes no image"):
        resolve_job(JobSpec(id="a", prompt="x", image="i.png"), str(source), "tiny")
    with pytest.raises(SpecError, match="field 'image'.*needs an input image"):
        resolve_job(JobSpec(id="a", prompt="x"), str(source), "wan2.2-ti2v-5b")
    with pytest.raises(SpecError, match="image not found"):
        resolve_job(JobSpec(id="a", prompt="x", image="i.png"), str(source), "wan2.2-ti2v-5b")
    (tmp_path / "i.png").write_bytes(b"png")
    job = resolve_job(JobSpec(id="a", prompt="x", image="i.png"), str(source), "wan2.2-ti2v-5b")
    assert job.image == str(tmp_path / "i.png")
    # The image's bytes are part of the job: a new picture under the same name is a new job.
    (tmp_path / "i.png").write_bytes(b"another png")
    changed = resolve_job(JobSpec(id="a", prompt="x", image="i.png"), str(source), "wan2.2-ti2v-5b")
    assert changed.content_hash != job.content_hash
    plain = resolve_job(JobSpec(id="a", prompt="x"), str(source), "tiny")
    assert "image_sha256" not in plain.identity()


def test_missing_weights_say_which_and_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    preset = get_preset("wan2.1-t2v-14b")
    with pytest.raises(ModelUnavailableError) as caught:
        locate_weights(preset, tmp_path)
    message = str(caught.value)
    assert "Wan-AI/Wan2.1-T2V-14B-Diffusers" in message and preset.env_var in message
    monkeypatch.setenv(preset.env_var, str(tmp_path / "weights"))
    with pytest.raises(ModelUnavailableError, match="has no model_index.json"):
        locate_weights(preset, tmp_path)


def test_step_cache_reaches_the_job_and_changes_its_identity_only_when_set() -> None:
    from vidflow.spec import StepCache

    plain = resolve_job(JobSpec(id="a", prompt="x"), "a.yaml", "wan2.1-t2v-1.3b")
    none = resolve_job(JobSpec(id="a", prompt="x", step_cache="none"), "a.yaml", "wan2.1-t2v-1.3b")
    fbc = resolve_job(
        JobSpec.model_validate({"id": "a", "prompt": "x", "step_cache": "first-block"}),
        "a.yaml",
        "wan2.1-t2v-1.3b",
    )
    taylor = resolve_job(
        JobSpec.model_validate(
            {"id": "a", "prompt": "x", "step_cache": {"method": "taylorseer", "interval": 3}}
        ),
        "a.yaml",
        "wan2.1-t2v-1.3b",
    )
    # Jobs written before the field existed keep their hash: it is not in their identity.
    assert "step_cache" not in plain.identity() and none.content_hash == plain.content_hash
    assert fbc.step_cache == StepCache(method="first-block")
    assert taylor.step_cache == StepCache(method="taylorseer", interval=3)
    assert len({plain.content_hash, fbc.content_hash, taylor.content_hash}) == 3


def test_an_unknown_step_cache_names_the_field(tmp_path: Path) -> None:
    from vidflow.spec import parse_prompt_file

    source = tmp_path / "bad.yaml"
    source.write_text("id: a\nprompt: x\nstep_cache: magic\n")
    with pytest.raises(SpecError, match="bad.yaml job 'a' field 'step_cache"):
        parse_prompt_file(source)
