"""Subcommands of `vidflow` for moderation: `moderate` and `moderation-eval`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from moderation.policy import load_policy
from moderation.prompt_filter import PromptModerator


def _moderate(args: argparse.Namespace) -> int:
    moderator = PromptModerator(load_policy(args.policy))
    if args.file in (None, "-"):
        lines = sys.stdin.read().splitlines()
    else:
        lines = Path(args.file).read_text(encoding="utf-8").splitlines()
    verdicts = moderator.check_many([(prompt, "") for prompt in filter(str.strip, lines)])
    for verdict in verdicts:
        print(verdict.model_dump_json())
    return 1 if any(v.action != "allow" for v in verdicts) else 0


def _evaluate(args: argparse.Namespace) -> int:
    from moderation.evaluate import evaluate, render

    report = evaluate(Path(args.file) if args.file else None, load_policy(args.policy))
    print(render(report))
    if args.json:
        Path(args.json).write_text(report.model_dump_json(indent=2), encoding="utf-8")
    return 0 if report.meets_targets else 1


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    moderate = subparsers.add_parser(
        "moderate",
        help="moderate prompts: one per line in, one JSON verdict per line out",
        description="Exit code 1 when any prompt is blocked or held for review.",
    )
    moderate.add_argument("file", nargs="?", help="a file of prompts, or - for stdin")
    moderate.add_argument("--policy", type=Path, help="policy YAML (default: the shipped one)")
    moderate.set_defaults(handler=_moderate)

    evaluate = subparsers.add_parser(
        "moderation-eval",
        help="measure prompt moderation on a labelled set",
        description="Prints recall per category, the benign false-positive rate and the "
        "time per prompt; exit code 1 when a target is missed.",
    )
    evaluate.add_argument("file", nargs="?", help="labelled JSONL (default: the held-out set)")
    evaluate.add_argument("--policy", type=Path, help="policy YAML (default: the shipped one)")
    evaluate.add_argument("--json", help="also write the report to this file")
    evaluate.set_defaults(handler=_evaluate)
