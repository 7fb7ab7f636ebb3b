"""Measure prompt moderation on a labelled set: recall per category, benign false positives.

The shipped sets (`moderation/data/`), in the order they were written:
- `dev`, `dev2`, `heldout`, `heldout2`, `heldout3`, `heldout4`: written while the term rules
  were built; each was a blind set for one run, then tuning data (docs/benchmarks.md gives
  each first run, the honest number);
- `train-*.jsonl`: written to docs/moderation-labelling.md by separate authors, each in its
  own style, to train the learned classifier (moderation/train.py), together with the six
  sets above;
- `heldout5` to `heldout8`: written the same way and never trained or tuned on (heldout7
  and heldout8 written after the last change to the filter); the default set here is
  heldout5.
A prompt counts as stopped when its verdict is block or review: either way nothing is
generated.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from moderation.policy import Policy
from moderation.prompt_filter import PromptModerator
from vidflow.errors import SpecError

TARGET_RECALL = 0.97
TARGET_FALSE_POSITIVE = 0.02
TARGET_MS_PER_PROMPT = 2.0


class Example(BaseModel):
    text: str
    label: Literal["unsafe", "benign"]
    category: str | None = None
    form: str = Field("plain", description="plain, obfuscated or near-miss.")


class Miss(BaseModel):
    text: str
    label: str
    expected: str | None
    got: str
    rule: str | None


class EvalReport(BaseModel):
    dataset: str
    unsafe: int
    benign: int
    recall: float = Field(description="Share of unsafe prompts stopped.")
    recall_by_category: dict[str, float]
    recall_by_form: dict[str, float]
    false_positive_rate: float = Field(description="Share of benign prompts stopped.")
    ms_per_prompt: float
    misses: list[Miss]

    @property
    def meets_targets(self) -> bool:
        return (
            self.recall >= TARGET_RECALL
            and self.false_positive_rate <= TARGET_FALSE_POSITIVE
            and self.ms_per_prompt <= TARGET_MS_PER_PROMPT
        )


def load_examples(path: Path | None) -> tuple[str, list[Example]]:
    if path is None:
        text = resources.files("moderation").joinpath("data/heldout5.jsonl").read_text("utf-8")
        name = "moderation/data/heldout5.jsonl"
    else:
        text, name = path.read_text(encoding="utf-8"), str(path)
    examples = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            examples.append(Example.model_validate_json(line))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or None
            raise SpecError(f"{name}:{number}", first["msg"], field=field) from exc
    return name, examples


def evaluate(path: Path | None = None, policy: Policy | None = None) -> EvalReport:
    name, examples = load_examples(path)
    moderator = PromptModerator(policy)
    moderator.check_many([("warm up", "")])
    started = time.perf_counter()
    verdicts = moderator.check_many([(e.text, "") for e in examples])
    elapsed = time.perf_counter() - started
    hits: dict[str, list[bool]] = defaultdict(list)
    forms: dict[str, list[bool]] = defaultdict(list)
    misses = []
    benign_stopped = 0
    for example, verdict in zip(examples, verdicts, strict=True):
        stopped = verdict.action != "allow"
        if example.label == "unsafe":
            hits[example.category or "unknown"].append(stopped)
            forms[example.form].append(stopped)
        elif stopped:
            benign_stopped += 1
        if stopped != (example.label == "unsafe"):
            misses.append(
                Miss(text=example.text, label=example.label, expected=example.category,
                     got=verdict.action, rule=verdict.rule)
            )  # fmt: skip
    unsafe = sum(len(v) for v in hits.values())
    benign = len(examples) - unsafe
    return EvalReport(
        dataset=name,
        unsafe=unsafe,
        benign=benign,
        recall=sum(sum(v) for v in hits.values()) / max(unsafe, 1),
        recall_by_category={k: sum(v) / len(v) for k, v in sorted(hits.items())},
        recall_by_form={k: sum(v) / len(v) for k, v in sorted(forms.items())},
        false_positive_rate=benign_stopped / max(benign, 1),
        ms_per_prompt=1000 * elapsed / max(len(examples), 1),
        misses=misses,
    )


def render(report: EvalReport) -> str:
    lines = [f"{report.dataset}: {report.unsafe} unsafe, {report.benign} benign prompts"]
    for category, recall in report.recall_by_category.items():
        lines.append(f"  recall {category:<14} {recall:6.1%}")
    for form, recall in report.recall_by_form.items():
        lines.append(f"  recall {form + ' form':<14} {recall:6.1%}")
    lines.append(f"  recall, all unsafe     {report.recall:6.1%}  (target >= {TARGET_RECALL:.0%})")
    lines.append(
        f"  benign stopped         {report.false_positive_rate:6.1%}  "
        f"(target <= {TARGET_FALSE_POSITIVE:.0%})"
    )
    lines.append(
        f"  time per prompt        {report.ms_per_prompt:6.3f} ms (target <= "
        f"{TARGET_MS_PER_PROMPT} ms)"
    )
    for miss in report.misses:
        lines.append(f"  miss: [{miss.label}] {json.dumps(miss.text)} -> {miss.got} ({miss.rule})")
    lines.append("targets met" if report.meets_targets else "TARGETS MISSED")
    return "\n".join(lines)
