"""One model's first runs on several rounds of blind sets, pooled per language.

    python -m moderation.bench.pooled docs/bench/*heldout27-lang-*-twenty-seventh.json \
        docs/bench/*heldout28-lang-*-twenty-seventh.json --out P.json

A round's blind set holds 100 unsafe and 100 benign prompts a language, too few to tell a
language at 95% from one at 97%: the Wilson interval of 97 of 100 runs from 91.5% to
99.0%, and which language misses moves from one round of authors to the next. Summing the
first runs of one model on rounds written apart (each by other authors, none trained on)
measures each language on more prompts. Reads the JSON that `vidflow moderation-eval
--json` writes, one file a set; a set's language is the XX of its name `...-lang-XX`, and
every prompt of the set counts for it (its few `mixed` ones too, as the per-set targets
count them). Prints, per language, the pooled shares with their 95% intervals, whether the
pooled counts meet the targets, and in how many of its sets alone they were met; and the
disguised forms (obfuscated, euphemism) pooled the same way against their target (>= 95%),
their counts read from the set's file where it is found (a report gives shares only).
Writes JSON.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from moderation.evaluate import (
    DISGUISED_FORMS,
    TARGET_DISGUISED_RECALL,
    TARGET_FALSE_POSITIVE,
    TARGET_RECALL,
    interval,
    load_examples,
)

ROOT = Path(__file__).parents[2]


class Pooled(BaseModel):
    sets: list[str]
    unsafe: int
    unsafe_stopped: int
    benign: int
    benign_stopped: int
    recall: float
    recall_interval: tuple[float, float]
    false_positive_rate: float
    false_positive_interval: tuple[float, float]
    meets: bool
    sets_meeting: int
    # Per disguised form: [stopped, of]; empty where a set's file was not found.
    disguised: dict[str, tuple[int, int]]
    disguised_meets: bool | None


def meets(unsafe_stopped: int, unsafe: int, benign_stopped: int, benign: int) -> bool:
    """The issue's targets, on shares as moderation-eval compares them: >= 97% of unsafe
    stopped and <= 2% of benign."""
    recall = unsafe_stopped / unsafe if unsafe else 0.0
    benign_rate = benign_stopped / benign if benign else 0.0
    return recall >= TARGET_RECALL and benign_rate <= TARGET_FALSE_POSITIVE


def language_of(dataset: str) -> str:
    """A set's language, from its name (`heldout28-lang-ko` -> `ko`); else the name."""
    stem = Path(dataset).stem
    return stem.rsplit("-lang-", 1)[1] if "-lang-" in stem else stem


def counts(report: dict[str, Any]) -> tuple[int, int, int, int]:
    """(unsafe stopped, unsafe, benign stopped, benign) of one moderation-eval report."""
    unsafe, benign = report["unsafe"], report["benign"]
    return (round(report["recall"] * unsafe), unsafe,
            round(report["false_positive_rate"] * benign), benign)  # fmt: skip


def form_counts(report: dict[str, Any]) -> dict[str, tuple[int, int]] | None:
    """Per disguised form of one report, (stopped, unsafe prompts of that form); the totals
    come from the set's file (as written, relative to the working folder or the repository),
    None where it is not found."""
    found = [p for p in (Path(report["dataset"]), ROOT / report["dataset"]) if p.is_file()]
    if not found:
        return None
    written: dict[str, int] = defaultdict(int)
    for example in load_examples(found[0])[1]:
        if example.label == "unsafe" and example.form in DISGUISED_FORMS:
            written[example.form] += 1
    shares = report.get("recall_by_form", {})
    return {form: (round(shares.get(form, 0.0) * n), n) for form, n in sorted(written.items())}


def pool(reports: list[dict[str, Any]]) -> dict[str, Pooled]:
    """Per language, the sum of its sets' counts; sorted by language."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for report in reports:
        grouped[language_of(report["dataset"])].append(report)
    out = {}
    for lang, found in sorted(grouped.items()):
        each = [counts(r) for r in found]
        u_hit, u, b_hit, b = (sum(c[i] for c in each) for i in range(4))
        forms = [form_counts(r) for r in found]
        disguised: dict[str, tuple[int, int]] = {}
        if all(f is not None for f in forms):
            for f in forms:
                for form, (hit, n) in (f or {}).items():
                    was = disguised.get(form, (0, 0))
                    disguised[form] = (was[0] + hit, was[1] + n)
        shares = [hit / n for hit, n in disguised.values() if n]
        disguised_meets = all(s >= TARGET_DISGUISED_RECALL for s in shares) if shares else None
        out[lang] = Pooled(
            sets=[Path(r["dataset"]).stem for r in found], unsafe=u, unsafe_stopped=u_hit,
            benign=b, benign_stopped=b_hit, recall=u_hit / u if u else 0.0,
            recall_interval=interval(u_hit, u), false_positive_rate=b_hit / b if b else 0.0,
            false_positive_interval=interval(b_hit, b), meets=meets(u_hit, u, b_hit, b),
            sets_meeting=sum(meets(*c) for c in each), disguised=disguised,
            disguised_meets=disguised_meets,
        )  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", type=Path, help="moderation-eval --json files")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    reports = []
    for path in args.reports:
        report = json.loads(path.read_text())
        if not {"dataset", "unsafe", "benign", "recall", "false_positive_rate"} <= set(report):
            parser.error(f"{path}: not a moderation-eval --json report")
        reports.append(report)
    pooled = pool(reports)
    print(f"{'language':10}{'sets':>5}{'unsafe stopped':>22}{'95%':>14}"
          f"{'benign stopped':>20}{'95%':>12}  pooled   sets meeting  disguised")  # fmt: skip
    for lang, p in pooled.items():
        print(f"{lang:10}{len(p.sets):>5}{p.unsafe_stopped:>10}/{p.unsafe:<4} {p.recall:6.1%}"
              f"{p.recall_interval[0]:>8.1%}-{p.recall_interval[1]:.1%}"
              f"{p.benign_stopped:>9}/{p.benign:<4} {p.false_positive_rate:5.1%}"
              f"{p.false_positive_interval[0]:>6.1%}-{p.false_positive_interval[1]:.1%}"
              f"  {'meets' if p.meets else 'MISSES':7}{p.sets_meeting:>4}/{len(p.sets):<9}"
              + "  ".join(f"{form} {hit}/{n}" for form, (hit, n) in p.disguised.items()))  # fmt: skip
    met = sum(p.meets for p in pooled.values())
    print(f"pooled: {met} of {len(pooled)} meet >= {TARGET_RECALL:.0%} unsafe and "
          f"<= {TARGET_FALSE_POSITIVE:.0%} benign stopped")  # fmt: skip
    forms = [p.disguised_meets for p in pooled.values() if p.disguised_meets is not None]
    if forms:
        print(f"disguised forms: {sum(forms)} of {len(forms)} reach >= "
              f"{TARGET_DISGUISED_RECALL:.0%} of each form stopped")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps({lang: p.model_dump() for lang, p in pooled.items()},
                                       indent=2, ensure_ascii=False) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
