"""What a policy's term rules fire on, over labelled sets: the audit for a term list.

    python -m moderation.bench.term_hits --out term-hits.json [--policy POLICY] [FILES...]
    python -m moderation.bench.term_hits --category violence --show 20
    python -m moderation.bench.term_hits --with-model moderation/data/heldout14-lang-*.jsonl

A term rule that acts alone blocks every prompt it matches, so a word with an everyday
sense ("massacre" on the stock market, Polish "góry", mountains) stops benign prompts in
every language that has it. This reads every labelled set (default: all of
moderation/data) with the rules alone, the learned models off, and prints for each
category how many unsafe and benign prompts it fires on (after allowed phrases, benign
contexts and negations, and a pair rule only with its partner), and how many prompts the
rules alone stop. `--category` lists that category's benign hits, with the term that fired,
to read before a term goes in. `--with-model` adds, per category, the prompts its terms
fire on that the whole moderator (learned models and combiner on) still lets through: the
unsafe ones a term that always blocked would gain, and the benign ones it would cost.
Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from moderation.evaluate import Example, load_examples
from moderation.policy import load_policy
from moderation.prompt_filter import PromptModerator

DATA = Path(__file__).parents[1] / "data"


def term_hits(
    examples: list[Example], moderator: PromptModerator, show: str | None = None
) -> tuple[dict[str, dict[str, int]], dict[str, int], list[tuple[str, str]]]:
    """Per category, prompts it fires on by label; prompts stopped by label; and the
    benign hits of the category `show` as (rule, prompt)."""
    hits: Counter[tuple[str, str]] = Counter()
    stopped: Counter[str] = Counter()
    shown: list[tuple[str, str]] = []
    verdicts = moderator.check_many([(example.text, "") for example in examples])
    for example, verdict in zip(examples, verdicts, strict=True):
        terms = [r for r in verdict.reasons if r.rule.startswith("term:")]
        for category in {reason.category for reason in terms}:
            hits[category, example.label] += 1
        if example.label == "benign":
            shown += [(r.rule, example.text) for r in terms if r.category == show]
        stopped[example.label] += verdict.action != "allow"
    categories = sorted({category for category, _ in hits})
    table = {c: {"unsafe": hits[c, "unsafe"], "benign": hits[c, "benign"]} for c in categories}
    return table, dict(stopped), shown


def let_through(examples: list[Example], moderator: PromptModerator) -> dict[str, dict[str, int]]:
    """Per category, by label, the prompts its terms fire on that `moderator` allows."""
    counts: Counter[tuple[str, str]] = Counter()
    verdicts = moderator.check_many([(example.text, "") for example in examples])
    for example, verdict in zip(examples, verdicts, strict=True):
        if verdict.action == "allow":
            fired = {r.category for r in verdict.reasons if r.rule.startswith("term:")}
            counts.update((category, example.label) for category in fired)
    categories = sorted({category for category, _ in counts})
    return {c: {"unsafe": counts[c, "unsafe"], "benign": counts[c, "benign"]} for c in categories}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="labelled JSONL sets")
    parser.add_argument("--policy", type=Path, help="policy YAML (default: the shipped one)")
    parser.add_argument("--category", help="list this category's benign hits")
    parser.add_argument("--show", type=int, default=40, help="how many of them (default 40)")
    parser.add_argument("--with-model", action="store_true",
                        help="also count the hits the whole moderator lets through")  # fmt: skip
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    args = parser.parse_args(argv)
    files = args.files or sorted(DATA.glob("*.jsonl"))
    examples = [example for path in files for example in load_examples(path)[1]]
    policy = load_policy(args.policy) if args.policy else load_policy()
    table, stopped, shown = term_hits(examples, PromptModerator(policy.rules_only()), args.category)
    unsafe = sum(e.label == "unsafe" for e in examples)
    benign = len(examples) - unsafe
    print(f"{len(examples)} prompts from {len(files)} sets ({unsafe} unsafe, {benign} benign)")
    passed = let_through(examples, PromptModerator(policy)) if args.with_model else None
    print(f"{'category':26} {'unsafe':>7} {'benign':>7}"
          + ("   let through: unsafe  benign" if passed is not None else ""))  # fmt: skip
    for category, counts in table.items():
        row = f"{category:26} {counts['unsafe']:7} {counts['benign']:7}"
        if passed is not None:
            through = passed.get(category, {"unsafe": 0, "benign": 0})
            row += f"   {through['unsafe']:20} {through['benign']:7}"
        print(row)
    print(
        f"the rules alone stop {stopped.get('unsafe', 0)} unsafe and "
        f"{stopped.get('benign', 0)} benign prompts"
    )
    for rule, text in shown[: args.show]:
        print(f"  {rule:30} {text[:100]}")
    if args.out:
        report = {
            "files": [str(path) for path in files],
            "policy": str(args.policy or "shipped"),
            "prompts": {"unsafe": unsafe, "benign": benign},
            "fires_on": table,
            "stopped": stopped,
        }
        if passed is not None:
            report["let_through_with_model"] = passed
        args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
