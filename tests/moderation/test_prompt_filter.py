from __future__ import annotations

import json
from pathlib import Path

import pytest

from moderation.evaluate import evaluate
from moderation.normalize import normalize, readings, squeeze
from moderation.policy import load_policy
from moderation.prompt_filter import PromptModerator, Verdict
from vidflow.cli import main
from vidflow.errors import SpecError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＮＵＤＥ", "nude"),  # NFKC full-width
        ("n\u0430k\u0435d", "naked"),  # Cyrillic look-alikes
        ("nu\u200bd\u200de", "nude"),  # zero-width characters
        ("nu\u0000de\u0007", "nude"),  # control characters
        ("p0rn", "porn"),  # leetspeak digits
        ("$3x", "sex"),  # leetspeak symbols
        ("g o r e", "gore"),  # letters split by spaces
        ("g.o.r.e", "gore"),  # ... or by punctuation
        ("N-U-D-E", "nude"),
        ("Crème brûlée", "creme brulee"),  # accents dropped, words kept
        ("3 cats and 7 dogs", "3 cats and 7 dogs"),  # digits alone stay digits
    ],
)
def test_normalisation_undoes_each_trick(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_stretched_letters_and_spaced_articles() -> None:
    assert squeeze(normalize("nuuuuude")) == "nude"
    assert readings("a n u d e woman") == ["anude woman", "a nude woman"]


@pytest.mark.parametrize(
    "prompt",
    ["Scunthorpe town centre", "chicken breast in a pan", "a killer whale breaching",
     "grapes in Essex", "a therapist's office", "a child flying a kite",
     "a naked-eye view of the stars", "blood orange juice", "a cocktail bar"],
)  # fmt: skip
def test_word_boundaries_spare_benign_words(moderator: PromptModerator, prompt: str) -> None:
    assert moderator.check(prompt).action == "allow"


@pytest.mark.parametrize(
    ("prompt", "action", "category"),
    [
        ("a graphic gore scene", "block", "violence"),
        ("n@k3d woman", "block", "sexual"),
        ("naked child", "block", "minors"),
        ("sexy schoolgirl", "block", "minors"),
        ("a sexy sports car ad", "review", "suggestive"),
        ("deepfake of a president", "review", "impersonation"),
        ("k.k.k rally", "block", "hate"),
    ],
)
def test_unsafe_prompts_are_stopped_with_their_category(
    moderator: PromptModerator, prompt: str, action: str, category: str
) -> None:
    verdict = moderator.check(prompt)
    assert (verdict.action, verdict.category) == (action, category)
    assert verdict.rule and verdict.rule.startswith("term:")


def test_negative_prompt_is_checked_only_for_hard_categories(moderator: PromptModerator) -> None:
    assert moderator.check("a beach", "no gore, no nudity, no blood").action == "allow"
    verdict = moderator.check("a beach", "naked child")
    assert verdict.action == "block" and verdict.reasons[0].field == "negative_prompt"


def test_verdict_json_round_trips_with_reasons(moderator: PromptModerator) -> None:
    verdict = moderator.check("g o r e and a decapitated body")
    data = json.loads(verdict.model_dump_json())
    assert data["action"] == "block" and data["normalized_text"] == "gore and a decapitated body"
    assert {r["category"] for r in data["reasons"]} == {"violence"}
    assert Verdict.model_validate(data) == verdict


def test_moderate_command_prints_one_verdict_per_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a calm lake\n\np0rn\n")
    assert main(["moderate", str(prompts)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["allow", "block"]


def test_policy_errors_name_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("categories:\n  x: {action: maybe, terms: [a]}\n")
    with pytest.raises(SpecError, match=r"policy.yaml field 'categories.x.action'"):
        load_policy(bad)
    bad.write_text("categories:\n  x: {action: block, requires: [nope]}\n")
    with pytest.raises(SpecError, match="unknown 'nope'"):
        load_policy(bad)


def test_a_repo_policy_overrides_the_shipped_one(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("categories:\n  fruit: {action: block, terms: [banana]}\n")
    moderator = PromptModerator(load_policy(policy))
    assert moderator.check("two bananas").category == "fruit"
    assert moderator.check("a graphic gore scene").action == "allow"


def test_evaluation_on_the_shipped_tuning_set() -> None:
    report = evaluate(Path(__file__).parents[2] / "moderation" / "data" / "dev.jsonl")
    assert report.unsafe == 80 and report.benign == 70
    assert report.recall >= 0.97 and report.false_positive_rate <= 0.02
    assert report.ms_per_prompt < 2.0
    assert set(report.recall_by_form) == {"plain", "obfuscated"}


def test_evaluation_command_reports_the_held_out_set(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["moderation-eval"])
    out = capsys.readouterr().out
    assert "heldout.jsonl: 60 unsafe, 50 benign prompts" in out
    assert code == (0 if "targets met" in out.splitlines()[-1] else 1)
