"""A combiner for prompts told English and one for those told another language."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from moderation.evaluate import Example
from moderation.policy import load_policy
from moderation.prompt_filter import PromptModerator
from moderation.text_model import TextModel
from vidflow.cli import main

SCENES = ["a quiet harbour", "a snowy forest", "a busy market", "a desert road", "a rooftop"]
LIEUX = ["un port tranquille", "une forêt enneigée", "un marché animé", "une route du désert",
         "un toit de Paris"]  # fmt: skip
EXAMPLES = (
    [Example(text=f"zorblax attack in {s}, graphic", label="unsafe", category="violence")
     for s in SCENES]
    + [Example(text=f"fake speech by senator quibble at {s}", label="unsafe",
               category="impersonation") for s in SCENES]
    + [Example(text=f"a calm walk through {s} at dawn", label="benign") for s in SCENES]
    + [Example(text=f"un faux discours du sénateur quibble dans {s}, comme un vrai journal",
               label="unsafe", category="impersonation", lang="fr") for s in LIEUX]
    + [Example(text=f"une attaque zorblax dans {s}, sanglante et réaliste", label="unsafe",
               category="violence", lang="fr") for s in LIEUX]
    + [Example(text=f"une promenade tranquille dans {s} au lever du soleil, avec le chien",
               label="benign", lang="fr") for s in LIEUX]
)  # fmt: skip
# Three classes, as the shipped model has (two would make the n-gram model's head binary).
POLICY = "categories:\n  violence: {action: block, terms: [zorblax]}\n  impersonation: {action: review}\n"


def _sets(tmp_path: Path) -> list[Path]:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("".join(e.model_dump_json() + "\n" for e in EXAMPLES[0::2]))
    second.write_text("".join(e.model_dump_json() + "\n" for e in EXAMPLES[1::2]))
    return [first, second]


def _tiny(other_bias: float | None) -> TextModel:
    """A model whose n-gram log-odds pass straight through its combiner(s)."""
    weights = np.array([1.0, 0.0, 0.0, 0.0, 0.0])  # log-odds, violence hit, profanity, hidden x2
    return TextModel(
        classes=("benign", "violence"),
        buckets=np.array([1], dtype=np.int64),
        weights=np.zeros((1, 2), dtype=np.float32),
        bias=np.zeros(2, dtype=np.float32),
        combiner=weights,
        combiner_other=None if other_bias is None else weights,
        combiner_other_bias=other_bias or 0.0,
        combiner_languages=() if other_bias is None else ("fr",),
    )


def test_prompts_told_another_language_are_weighed_by_their_combiner(tmp_path: Path) -> None:
    model = _tiny(other_bias=-50.0)
    args = (np.array([0.9, 0.9]), np.zeros((2, 1)), np.zeros(2), np.zeros((2, 2)))
    english, french = model.combine(*args, told=["en", "fr"])
    assert english == pytest.approx(0.9) and french < 1e-9
    # Told nothing: the first combiner for all; one combiner only: told changes nothing.
    assert model.combine(*args) == pytest.approx([0.9, 0.9])
    assert _tiny(None).combine(*args, told=["en", "fr"]) == pytest.approx([0.9, 0.9])
    model.save(tmp_path / "m.npz")
    loaded = TextModel.load(tmp_path / "m.npz")
    assert loaded.combiner_languages == ("fr",) and loaded.combiner_other_bias == -50.0
    assert loaded.combine(*args, told=["en", "fr"]) == pytest.approx([english, french])


def test_training_fits_a_combiner_per_side_and_refits_them_from_saved_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from moderation.train import SPLIT_LANGUAGES, train

    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    paths = _sets(tmp_path)
    oof = tmp_path / "oof.npy"
    model = train(paths, tmp_path / "m.npz", policy=load_policy(policy), multilingual=False,
                  out_of_fold_to=oof)  # fmt: skip
    assert model.combiner_other is not None and model.combiner_languages == SPLIT_LANGUAGES
    assert not np.allclose(model.combiner_weights(), model.combiner_other)
    assert json.loads(model.provenance)["combiner_languages"] == list(SPLIT_LANGUAGES)
    # Refitted from the scores saved with it: the same combiners, and no fold fitted again.
    refitted = tmp_path / "refit.npz"
    assert main(["moderation-train", *map(str, paths), "--refit", str(tmp_path / "m.npz"),
                 "--out-of-fold", str(oof), "--out", str(refitted),
                 "--policy", str(policy)]) == 0  # fmt: skip
    again = TextModel.load(refitted)
    assert again.combiner_other is not None
    assert np.allclose(again.combiner_weights(), model.combiner_weights())
    assert np.allclose(again.combiner_other, model.combiner_other)
    assert "a combiner of their own: ar, de" in capsys.readouterr().out
    # Scores saved for other sets: the file is named and nothing is written.
    np.save(tmp_path / "other.npy", np.zeros((3, 1)))
    assert main(["moderation-train", *map(str, paths), "--refit", str(tmp_path / "m.npz"),
                 "--out-of-fold", str(tmp_path / "other.npy"),
                 "--out", str(tmp_path / "no.npz")]) == 2  # fmt: skip
    assert f"{tmp_path / 'other.npy'}: 3 scores" in capsys.readouterr().err
    assert not (tmp_path / "no.npz").exists()
    assert main(["moderation-train", "--refit", str(tmp_path / "m.npz")]) == 2


def test_one_combiner_for_all_where_the_split_is_off_or_one_side_is_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import moderation.train
    from moderation.train import train

    policy = load_policy(_write(tmp_path / "policy.yaml", POLICY))
    english_only = tmp_path / "en.jsonl"
    english_only.write_text("".join(e.model_dump_json() + "\n" for e in EXAMPLES if not e.lang))
    model = train([english_only], tmp_path / "en.npz", policy=policy, multilingual=False)
    assert model.combiner_other is None and model.combiner_languages == ()
    monkeypatch.setattr(moderation.train, "SPLIT_LANGUAGES", ())
    model = train(_sets(tmp_path), tmp_path / "one.npz", policy=policy, multilingual=False)
    assert model.combiner_other is None
    assert json.loads(model.provenance)["combiner_languages"] == []


def test_the_moderator_weighs_a_prompt_by_the_combiner_of_its_language(tmp_path: Path) -> None:
    from moderation.train import train

    rules = load_policy(_write(tmp_path / "rules.yaml", POLICY))
    model = train(_sets(tmp_path), tmp_path / "m.npz", policy=rules, multilingual=False)
    french = "une attaque zorblax dans une ruelle, sanglante et réaliste"
    english = "zorblax attack in a back alley, graphic"

    def verdicts(path: Path) -> tuple[str, str]:
        text_model = f"text_model: {{path: {path.name}, threshold: 0.5}}\n"
        moderator = PromptModerator(load_policy(_write(tmp_path / "p.yaml", POLICY + text_model)))
        return moderator.check(french).action, moderator.check(english).action

    assert verdicts(tmp_path / "m.npz") == ("block", "block")
    # The other languages' combiner made to allow everything: only the French prompt passes.
    replace(model, combiner_other_bias=-50.0).save(tmp_path / "lenient.npz")
    assert verdicts(tmp_path / "lenient.npz") == ("allow", "block")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
