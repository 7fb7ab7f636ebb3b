"""Each broken setting ends `vidflow run` with exit 3 and one line naming it, before
Prefect starts: no traceback, nothing generated."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from vidflow.cli import EXIT_CONFIG, main
from vidflow.settings import get_settings


def wrong_model_policy(root: Path) -> str:
    from moderation.policy import load_policy

    policy = load_policy()
    policy.text_model.path = root / "no-such-model.npz"
    path = root / "policy.json"
    path.write_text(policy.model_dump_json(exclude={"source"}))
    return str(path)


def write(root: Path, name: str, text: str) -> str:
    (root / name).write_text(text)
    return str(root / name)


def under_a_file(root: Path) -> str:
    (root / "a-file").write_text("")
    return str(root / "a-file" / "store")


SETTINGS: list[tuple[str, Callable[[Path], dict[str, str]], str]] = [
    ("bogus-store-url", lambda r: {"VIDFLOW_STORE_URL": "bogus://bucket"}, "cannot be opened"),
    ("unwritable-store-url", lambda r: {"VIDFLOW_STORE_URL": "file:///proc/vidflow-store"},
     "is not writable"),
    ("read-only-store", lambda r: {"VIDFLOW_ARTIFACTS_DIR": under_a_file(r)}, "is not writable"),
    ("missing-policy", lambda r: {"VIDFLOW_POLICY_PATH": str(r / "nope.yaml")},
     "cannot read policy"),
    ("policy-wrong-model-path", lambda r: {"VIDFLOW_POLICY_PATH": wrong_model_policy(r)},
     "field 'text_model.path': no model file"),
    ("policy-not-yaml", lambda r: {"VIDFLOW_POLICY_PATH": write(r, "p.yaml", "a: [\n")},
     "invalid YAML"),
    ("policy-bad-field", lambda r: {"VIDFLOW_POLICY_PATH": write(r, "p.yaml", "bogus: 1\n")},
     "moderation policy:"),
    ("timeout-not-a-number", lambda r: {"VIDFLOW_GENERATION_TIMEOUT_S": "soon"},
     "setting VIDFLOW_GENERATION_TIMEOUT_S: Input should be a valid number"),
    ("timeout-negative", lambda r: {"VIDFLOW_GENERATION_TIMEOUT_S": "-5"},
     "setting VIDFLOW_GENERATION_TIMEOUT_S: Input should be greater than 0"),
    ("label-opacity-out-of-range", lambda r: {"VIDFLOW_LABEL_OPACITY": "7"},
     "setting VIDFLOW_LABEL_OPACITY: Input should be less than or equal to 1"),
    ("label-corner-unknown", lambda r: {"VIDFLOW_LABEL_CORNER": "middle"},
     "setting VIDFLOW_LABEL_CORNER"),
    ("label-enabled-not-bool", lambda r: {"VIDFLOW_LABEL_ENABLED": "maybe"},
     "setting VIDFLOW_LABEL_ENABLED"),
    ("safety-frames-not-int", lambda r: {"VIDFLOW_SAFETY_FRAMES": "lots"},
     "setting VIDFLOW_SAFETY_FRAMES"),
    ("unknown-default-preset", lambda r: {"VIDFLOW_DEFAULT_PRESET": "nope"},
     "VIDFLOW_DEFAULT_PRESET: unknown preset 'nope'"),
    ("missing-prompts-folder", lambda r: {"VIDFLOW_PROMPTS_DIR": str(r / "none")},
     "is not a folder (VIDFLOW_PROMPTS_DIR)"),
    ("missing-c2pa-files",
     lambda r: {"VIDFLOW_C2PA_CERT": str(r / "c.pem"), "VIDFLOW_C2PA_KEY": str(r / "k.pem")},
     "C2PA signing credentials"),
    ("garbage-c2pa-certificate",
     lambda r: {"VIDFLOW_C2PA_CERT": write(r, "c.pem", "not a cert"),
                "VIDFLOW_C2PA_KEY": write(r, "k.pem", "not a key")},
     "C2PA signing credentials"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "env", "message"), SETTINGS, ids=[s[0] for s in SETTINGS])
def test_a_broken_setting_is_exit_3_and_one_line(
    vidflow_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    env: Callable[[Path], dict[str, str]],
    message: str,
) -> None:
    (vidflow_env / "prompts" / "a.yaml").write_text("prompt: a calm sea\n")
    for key, value in env(vidflow_env).items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    capsys.readouterr()

    code = main(["run"])

    err = capsys.readouterr().err
    assert code == EXIT_CONFIG, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("configuration error: ") and message in err, err
    assert not (vidflow_env / "artifacts" / "published").exists()


def test_validate_reports_a_broken_setting_the_same_way(
    vidflow_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIDFLOW_LABEL_OPACITY", "-1")
    get_settings.cache_clear()
    assert main(["validate"]) == EXIT_CONFIG
    assert capsys.readouterr().err == (
        "configuration error: setting VIDFLOW_LABEL_OPACITY: Input should be greater than 0\n"
    )


def test_an_unexpected_error_is_its_own_exit_code_not_a_moderation_stop(
    vidflow_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import vidflow.commands

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(vidflow.commands, "load_prompt_files", broken)
    assert main(["validate"]) == 70
    assert capsys.readouterr().err.splitlines()[-1] == "internal error: RuntimeError: a bug"
