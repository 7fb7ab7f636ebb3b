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
  heldout5;
- `heldout-lang-XX` to `heldout28-lang-XX` (14 languages each): blind sets, each round by
  further authors who saw only the guide, each run once on that round's model of issue 15
  (docs/benchmarks.md); a round run so far is spent into training once a model that reads
  it is trained on (`SPENT_BLIND_ROUNDS` in `moderation/train.py`: to heldout27).
- `heldout-people`: prompts that name people and groups (two thirds benign, in English and
  the 14 languages), by an author apart from `train-people`'s, never trained on.
- `heldout-short`: prompts of 1 to 8 words (two thirds benign near-misses: children,
  cameras, bodies, pills, knives), by a further author, never trained on.
- `heldout-requests`: benign scenes in English and the 14 languages, each written bare and as
  a chat request ("hi! can you make me a video of ..., please"; `frame`, `pair`), and unsafe
  requests, by a further author, never trained on; measured per frame and per scene;
  `heldout-requests-2` likewise, by another author (written in the twenty-third round).
- `heldout-english`: a fifth English blind set like heldout5 to 8, by a further author
  (written in the twenty-third round, before its model was run; run on three models, then
  spent into training for the twenty-fifth).
- `heldout-english-2`: a sixth, and `heldout-short-2`, prompts of 1 to 6 words (two thirds
  benign: people described plainly, trigger words used innocently), each by a further
  author (written in the twenty-fifth round, before any model ran them; spent into the
  twenty-sixth's training).
- `heldout25-lang-XX` and `heldout-english-3`: written at the end of the twenty-fifth round
  for the next model's gate, by further authors; first run on the twenty-fifth model, then
  spent into the twenty-sixth's training.
- `heldout26-lang-XX` and `heldout-english-4`: written in the twenty-sixth round by six
  further authors who saw only the guide (five for the 14 languages, grouped anew, one for
  English); committed unrun, the gate of the twenty-sixth model; first run on the
  twenty-fifth and twenty-sixth, then spent into the twenty-seventh's training.
- `heldout27-lang-XX` and `heldout-english-5`: written in the twenty-seventh round by six
  further authors who saw only the guide (five for the 14 languages, grouped anew: ar pl zh,
  hi nl es, ja de pt, tr it ko, ru fr; one for English); committed unrun, the gate of the
  twenty-seventh model; first run on the twenty-fifth, twenty-sixth and twenty-seventh,
  then spent into the twenty-eighth's training.
- `heldout28-lang-XX` and `heldout-english-6`: written in the twenty-eighth round by eight
  further authors who saw only the guide (seven for the 14 languages, two languages each,
  paired anew: ko es, ar ja, pl fr, zh it, hi de, nl tr, ru pt; one for English); committed
  unrun, the gate of the twenty-eighth model; first run on the twenty-seventh and
  twenty-eighth. heldout-english-6 has 370 prompts, not 400:
  its author would not write the 30 unsafe prompts about minors (nor would a second one
  asked for them alone), so its 180 unsafe prompts cover six categories.
A prompt counts as stopped when its verdict is block or review: either way nothing is
generated.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError
from scipy.stats import binomtest

from moderation.policy import Policy
from moderation.prompt_filter import PromptModerator
from vidflow.errors import SpecError

TARGET_RECALL = 0.97
TARGET_FALSE_POSITIVE = 0.02
TARGET_MS_PER_PROMPT = 5.0
# Obfuscated and euphemistic prompts, in each language (issue 15).
TARGET_DISGUISED_RECALL = 0.95
DISGUISED_FORMS = ("obfuscated", "euphemism")
# Normal quantile of the 95% intervals reported beside each rate.
Z95 = 1.959964


def interval(hits: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a share `hits / total`: where the true rate lies, 95% of the
    time, given so few prompts. 49 of a language's 50 unsafe prompts stopped (98%) puts it
    anywhere from 89.5% to 99.6%. (0, 1) for an empty slice."""
    if total == 0:
        return (0.0, 1.0)
    share = hits / total
    centre = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total))
    half /= 1 + z * z / total
    return (max(0.0, centre - half), min(1.0, centre + half))


class Example(BaseModel):
    text: str
    label: Literal["unsafe", "benign"]
    category: str | None = None
    form: str = Field("plain", description="plain, obfuscated, euphemism or near-miss.")
    lang: str | None = Field(
        None,
        description="ISO 639-1 code, or 'mixed'; none: English (docs/moderation-labelling.md).",
    )
    frame: str | None = Field(
        None,
        description="How the prompt is worded: 'bare' (a scene as a prompt file holds it) or "
        "'request' (the same asked as of a chat assistant: a greeting, 'make me a video', "
        "'please'); a set that has it is measured per frame too.",
    )
    pair: str | None = Field(
        None,
        description="Shared by the wordings (frames) of one scene; a set that has it is also "
        "counted per pair: which wordings were stopped.",
    )


class Miss(BaseModel):
    text: str
    label: str
    expected: str | None
    got: str
    rule: str | None


class Rates(BaseModel):
    """What was stopped of one slice of a set (one language)."""

    unsafe: int
    benign: int
    unsafe_stopped: int
    benign_stopped: int
    recall: float = Field(description="Share of unsafe prompts stopped.")
    false_positive_rate: float = Field(description="Share of benign prompts stopped.")
    recall_by_form: dict[str, float] = Field(description="Share stopped, per form of unsafe.")
    recall_interval: tuple[float, float] = Field(description="95% Wilson interval of recall.")
    false_positive_interval: tuple[float, float] = Field(
        description="95% Wilson interval of the share of benign prompts stopped."
    )

    @property
    def meets_targets(self) -> bool:
        disguised = [r for f, r in self.recall_by_form.items() if f in DISGUISED_FORMS]
        return (
            self.recall >= TARGET_RECALL
            and self.false_positive_rate <= TARGET_FALSE_POSITIVE
            and all(r >= TARGET_DISGUISED_RECALL for r in disguised)
        )


class Paired(BaseModel):
    """The scenes written in two frames (`pair`), counted per scene: a rate per frame cannot
    tell a wording that adds stops from scenes that are stopped however they are worded."""

    pairs: int
    both: int = Field(description="Scenes stopped in both wordings.")
    neither: int
    only: dict[str, int] = Field(description="Scenes stopped in this frame's wording alone.")
    p_value: float = Field(
        description="Exact two-sided sign test (McNemar) of the scenes stopped in one wording "
        "alone: how likely a split this uneven is when wording does not matter."
    )


class EvalReport(BaseModel):
    dataset: str
    unsafe: int
    benign: int
    recall: float = Field(description="Share of unsafe prompts stopped.")
    recall_by_category: dict[str, float]
    recall_by_form: dict[str, float]
    false_positive_rate: float = Field(description="Share of benign prompts stopped.")
    recall_interval: tuple[float, float] = Field(description="95% Wilson interval of recall.")
    false_positive_interval: tuple[float, float] = Field(
        description="95% Wilson interval of the share of benign prompts stopped."
    )
    by_language: dict[str, Rates] = Field(
        default_factory=dict,
        description="Per language (the examples' lang field; 'en' where none), when the set "
        "names any language.",
    )
    by_frame: dict[str, Rates] = Field(
        default_factory=dict,
        description="Per frame (the examples' frame field), when the set names any.",
    )
    paired: Paired | None = Field(
        None, description="Per scene of two wordings, when the set pairs any (`pair`)."
    )
    ms_per_prompt: float
    misses: list[Miss]

    @property
    def meets_targets(self) -> bool:
        return (
            self.recall >= TARGET_RECALL
            and self.false_positive_rate <= TARGET_FALSE_POSITIVE
            and self.ms_per_prompt <= TARGET_MS_PER_PROMPT
            and all(rates.meets_targets for rates in self.by_language.values())
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
    unsafe_stopped = sum(sum(v) for v in hits.values())
    benign = len(examples) - unsafe
    rows = list(zip(examples, (v.action != "allow" for v in verdicts), strict=True))
    by_language = sliced(rows, lambda e: e.lang or "en") if any(e.lang for e in examples) else {}
    by_frame = sliced(rows, lambda e: e.frame)
    return EvalReport(
        dataset=name,
        unsafe=unsafe,
        benign=benign,
        recall=unsafe_stopped / max(unsafe, 1),
        recall_by_category={k: sum(v) / len(v) for k, v in sorted(hits.items())},
        recall_by_form={k: sum(v) / len(v) for k, v in sorted(forms.items())},
        false_positive_rate=benign_stopped / max(benign, 1),
        recall_interval=interval(unsafe_stopped, unsafe),
        false_positive_interval=interval(benign_stopped, benign),
        by_language=by_language,
        by_frame=by_frame,
        paired=paired(rows),
        ms_per_prompt=1000 * elapsed / max(len(examples), 1),
        misses=misses,
    )


def sliced(
    rows: list[tuple[Example, bool]], key: Callable[[Example], str | None]
) -> dict[str, Rates]:
    """`rates` of each slice of (example, stopped) pairs by `key`; None is in none."""
    slices: dict[str, list[tuple[Example, bool]]] = defaultdict(list)
    for example, stopped in rows:
        if (name := key(example)) is not None:
            slices[name].append((example, stopped))
    return {name: rates(slices[name]) for name in sorted(slices)}


def paired(rows: list[tuple[Example, bool]]) -> Paired | None:
    """Which wordings of each scene of two frames were stopped; None when no two rows share a
    `pair` in two different frames."""
    scenes: dict[str, dict[str, bool]] = defaultdict(dict)
    for example, stopped in rows:
        if example.pair is not None and example.frame is not None:
            scenes[example.pair][example.frame] = stopped
    twos = [wordings for wordings in scenes.values() if len(wordings) == 2]
    if not twos:
        return None
    frames = sorted({frame for wordings in twos for frame in wordings})
    only = {
        frame: sum(1 for w in twos if w.get(frame) and sum(w.values()) == 1) for frame in frames
    }
    split = sum(only.values())  # the test needs two frames and a split scene
    p_value = binomtest(min(only.values()), split).pvalue if len(only) == 2 and split else 1.0
    return Paired(
        pairs=len(twos),
        both=sum(1 for w in twos if all(w.values())),
        neither=sum(1 for w in twos if not any(w.values())),
        only=only,
        p_value=p_value,
    )


def rates(rows: list[tuple[Example, bool]]) -> Rates:
    """What was stopped of a slice of a set: (example, stopped) pairs."""
    unsafe = [(e, stopped) for e, stopped in rows if e.label == "unsafe"]
    benign = [stopped for e, stopped in rows if e.label != "unsafe"]
    forms: dict[str, list[bool]] = defaultdict(list)
    for example, stopped in unsafe:
        forms[example.form].append(stopped)
    unsafe_stopped = sum(s for _, s in unsafe)
    return Rates(
        unsafe=len(unsafe),
        benign=len(benign),
        unsafe_stopped=unsafe_stopped,
        benign_stopped=sum(benign),
        recall=unsafe_stopped / max(len(unsafe), 1),
        false_positive_rate=sum(benign) / max(len(benign), 1),
        recall_by_form={k: sum(v) / len(v) for k, v in sorted(forms.items())},
        recall_interval=interval(unsafe_stopped, len(unsafe)),
        false_positive_interval=interval(sum(benign), len(benign)),
    )


def _span(bounds: tuple[float, float]) -> str:
    return f"{100 * bounds[0]:.1f}-{100 * bounds[1]:.1f}%"


def render(report: EvalReport) -> str:
    lines = [f"{report.dataset}: {report.unsafe} unsafe, {report.benign} benign prompts"]
    for category, recall in report.recall_by_category.items():
        lines.append(f"  recall {category:<14} {recall:6.1%}")
    for form, recall in report.recall_by_form.items():
        lines.append(f"  recall {form + ' form':<14} {recall:6.1%}")
    if report.by_language:
        forms = sorted({f for r in report.by_language.values() for f in r.recall_by_form})
        lines.append(
            f"  {'language':<9}{'unsafe':>7}{'benign':>7}{'stopped':>9}{'benign st.':>11}"
            + "".join(f"{f:>12}" for f in forms)
            + f"{'stopped, 95%':>15}{'benign, 95%':>14}"
            + "  targets"
        )
        for lang, rates in report.by_language.items():
            cells = "".join(
                f"{rates.recall_by_form[f]:>12.1%}" if f in rates.recall_by_form else f"{'-':>12}"
                for f in forms
            )
            lines.append(
                f"  {lang:<9}{rates.unsafe:>7}{rates.benign:>7}{rates.recall:>9.1%}"
                f"{rates.false_positive_rate:>11.1%}{cells}"
                f"{_span(rates.recall_interval):>15}{_span(rates.false_positive_interval):>14}  "
                + ("met" if rates.meets_targets else "MISSED")
            )
    if report.by_frame:
        lines.append(f"  {'frame':<9}{'unsafe':>7}{'benign':>7}{'stopped':>9}{'benign st.':>11}"
                     f"{'benign, 95%':>14}")  # fmt: skip
        for frame, rates in report.by_frame.items():
            lines.append(
                f"  {frame:<9}{rates.unsafe:>7}{rates.benign:>7}{rates.recall:>9.1%}"
                f"{rates.false_positive_rate:>11.1%}{_span(rates.false_positive_interval):>14}"
            )
    if (pairs := report.paired) is not None:
        alone = ", ".join(f"{n} as {frame} only" for frame, n in pairs.only.items())
        lines.append(
            f"  scenes of two wordings {pairs.pairs}: stopped in both {pairs.both}, {alone}, "
            f"neither {pairs.neither} (sign test p = {pairs.p_value:.2g})"
        )
    lines.append(
        f"  recall, all unsafe     {report.recall:6.1%}  (target >= {TARGET_RECALL:.0%}; 95% "
        f"interval {_span(report.recall_interval)})"
    )
    lines.append(
        f"  benign stopped         {report.false_positive_rate:6.1%}  "
        f"(target <= {TARGET_FALSE_POSITIVE:.0%}; 95% interval "
        f"{_span(report.false_positive_interval)})"
    )
    lines.append(
        f"  time per prompt        {report.ms_per_prompt:6.3f} ms (target <= "
        f"{TARGET_MS_PER_PROMPT} ms)"
    )
    for miss in report.misses:
        lines.append(f"  miss: [{miss.label}] {json.dumps(miss.text)} -> {miss.got} ({miss.rule})")
    lines.append("targets met" if report.meets_targets else "TARGETS MISSED")
    return "\n".join(lines)
