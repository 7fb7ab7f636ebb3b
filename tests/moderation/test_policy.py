from __future__ import annotations

from pathlib import Path

import pytest

from moderation.policy import load_policy
from moderation.prompt_filter import PromptModerator
from vidflow.errors import SpecError


def test_shipped_policy_has_the_categories_the_issue_names() -> None:
    policy = load_policy()
    assert {"sexual", "minors", "violence", "self-harm", "hate", "weapons", "impersonation"} <= (
        set(policy.categories)
    )
    assert policy.source == "moderation/policy.yaml"
    assert policy.categories["minors"].requires == ["sexual", "suggestive"]


def test_policy_errors_name_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("categories:\n  x: {action: maybe, terms: [a]}\n")
    with pytest.raises(SpecError, match=r"policy.yaml field 'categories.x.action'"):
        load_policy(bad)
    bad.write_text("categories:\n  x: {action: block, terms: [1488]}\n")
    with pytest.raises(SpecError, match=r"field 'categories.x.terms.0'"):
        load_policy(bad)
    bad.write_text("categories:\n  x: {action: block, requires: [nope]}\n")
    with pytest.raises(SpecError, match="unknown 'nope'"):
        load_policy(bad)
    bad.write_text("categories: [\n")
    with pytest.raises(SpecError, match="invalid YAML"):
        load_policy(bad)
    with pytest.raises(SpecError, match="cannot read policy"):
        load_policy(tmp_path / "missing.yaml")


def test_a_repo_policy_overrides_the_shipped_one(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("categories:\n  fruit: {action: block, terms: [banana]}\n")
    moderator = PromptModerator(load_policy(policy))
    assert moderator.check("two bananas").category == "fruit"
    assert moderator.check("a graphic gore scene").action == "allow"


def test_exact_terms_take_only_a_plural(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("categories:\n  x: {action: block, terms: [cut], exact_terms: [spic]}\n")
    moderator = PromptModerator(load_policy(policy))
    assert moderator.check("spics").action == "block"
    assert moderator.check("spiced rum").action == "allow"
    assert moderator.check("cutting").action == "block"  # a plain term inflects


def test_rules_only_turns_the_classifier_off_in_a_copy() -> None:
    policy = load_policy()
    rules = policy.rules_only()
    assert policy.text_model.enabled and not rules.text_model.enabled
    assert rules.categories == policy.categories


def test_language_thresholds_name_known_languages_other_than_english(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    for thresholds, message in (("{xx: 0.4}", "'xx' is no language code"),
                                ("{en: 0.4}", "English takes text_model.threshold"),
                                ("{fr: 1.5}", "less than or equal to 1")):  # fmt: skip
        bad.write_text(f"categories: {{}}\ntext_model: {{language_thresholds: {thresholds}}}\n")
        with pytest.raises(
            SpecError, match=rf"field 'text_model.language_thresholds\S*': .*{message}"
        ):
            load_policy(bad)
    bad.write_text("categories: {}\ntext_model: {language_thresholds: {fr: 0.4, zh: 0.45}}\n")
    assert load_policy(bad).text_model.language_thresholds == {"fr": 0.4, "zh": 0.45}
