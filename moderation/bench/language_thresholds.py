"""Which threshold to give prompts in other languages than English, chosen out of fold.

    vidflow moderation-train --out M.npz --out-of-fold OOF.npy
    python -m moderation.bench.language_thresholds OOF.npy --out L.json [SETS...] [--english]

Scores every prompt of the sets the scores were saved for (default: the shipped training
sets) with a combiner fitted on the other folds (as `combiner_columns` does: whole sets to a
fold), tells each prompt's language from its normalised text as the moderator does
(moderation/language.py), and, for each candidate threshold given to every language but
English (English stays at the policy's `text_model.threshold`), counts the prompts stopped
per written language, and how many of the spent blind sets (`heldoutN-lang-XX`) meet the
issue's targets: at least 97% of unsafe and at most 2% of benign stopped ("rates"), and at
least 95% of each disguised form as well ("all"), in all and per language, with each
language's choice (`choose`: the best for all, or its own best where that meets `--margin`
more of its sets). The models that scored a blind set never read it, but read the other
rounds of its language: the first run of a new round, replayed once per spent round.
Prompts as written are counted, not training's copies; only the combined decision is, not
the few rules that act alone. Choose the threshold here, never on an unrun blind set.

With `--english`, also sweeps the threshold of prompts told English (the other languages at
the policy's) over the English prompts as written, and picks the one with the most unsafe
stopped less benign stopped, as shares (`choose_english`): English has no blind sets among
the training sets, and its blind sets (heldout5-8) are never chosen on.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from moderation.bench.combiner_columns import fold_of, scored, scores
from moderation.evaluate import (
    TARGET_FALSE_POSITIVE,
    TARGET_RECALL,
    Rates,
    rates,
)
from moderation.language import DEFAULT, languages
from moderation.normalize import normalize
from moderation.policy import Policy, load_policy
from moderation.train import SPENT_LANGUAGE_SETS, SPLIT_LANGUAGES, training_paths

CANDIDATES = (0.6, 0.55, 0.5, 0.45, 0.4, 0.35, 0.3)
ENGLISH_CANDIDATES = (0.75, 0.7, 0.65, 0.6, 0.55, 0.5)
# Sets of its own (of about 20) a language must gain to leave the threshold for all.
MARGIN = 2
# A spent blind set of one language (evaluate.py): "heldout-lang-fr", "heldout12-lang-zh".
BLIND_SET = re.compile(r"heldout\d*-lang-[a-z]{2}")


class Sweep(NamedTuple):
    rates: dict[str, Rates]  # "lang:XX" (as written) or "all but en"
    blind_sets: int
    meeting_rates: int  # blind sets at >= 97% unsafe, <= 2% benign stopped
    meeting_all: int  # ... and >= 95% of each disguised form
    meeting_by_language: dict[str, int]  # "XX": its blind sets meeting the rates


class _Read(NamedTuple):
    examples: list[Any]
    names: list[str]
    combined: np.ndarray[Any, np.dtype[np.float64]]  # out of fold, `combiner_columns.scores`
    told: np.ndarray[Any, Any]  # the language the moderator tells
    written: list[str]  # the language written (lang field; English without one)
    kept: np.ndarray[Any, np.dtype[np.bool_]]  # a prompt as written, not a training copy


def _read(paths: Sequence[Path], oof: np.ndarray[Any, Any], policy: Policy) -> _Read:
    _, examples, names, inputs, unsafe, written = scored(paths, oof, policy)
    told = np.array(languages((normalize(e.text) for e in examples), SPENT_LANGUAGE_SETS))
    # The combiners as training fits them now: one for English, one for the rest (the
    # languages told apart are the same: SPLIT_LANGUAGES are the SPENT_LANGUAGE_SETS).
    split = told if SPLIT_LANGUAGES else None
    combined = scores(inputs, unsafe, np.array([fold_of(n) for n in names]), split)
    return _Read(examples, names, combined, told, [e.lang or DEFAULT for e in examples],
                 written)  # fmt: skip


def sweep(
    paths: Sequence[Path],
    oof: np.ndarray[Any, Any],
    candidates: Sequence[float] = CANDIDATES,
    policy_path: Path | None = None,
    read: _Read | None = None,
) -> dict[float, Sweep]:
    """What each candidate threshold for other languages than English stops, out of fold
    (`read`: the sets already scored, as `english_sweep` also takes them)."""
    policy = load_policy(policy_path) if policy_path else load_policy()
    examples, names, combined, told, lang, written = read or _read(paths, oof, policy)
    blind = [n for n in dict.fromkeys(names) if BLIND_SET.fullmatch(Path(n).stem)]
    out: dict[float, Sweep] = {}
    for candidate in candidates:
        threshold = np.where(told == DEFAULT, policy.text_model.threshold, candidate)
        stopped = (combined >= threshold).tolist()
        pairs = [(e, s, n, w) for e, s, n, w, keep
                 in zip(examples, stopped, names, lang, written, strict=True) if keep]  # fmt: skip
        row = {f"lang:{code}": rates([(e, s) for e, s, _, w in pairs if w == code])
               for code in sorted(set(lang))}  # fmt: skip
        row["all but en"] = rates([(e, s) for e, s, _, w in pairs if w != DEFAULT])
        per_set = [rates([(e, s) for e, s, n, _ in pairs if n == name]) for name in blind]
        meeting = [r.recall >= TARGET_RECALL and r.false_positive_rate <= TARGET_FALSE_POSITIVE
                   for r in per_set]  # fmt: skip
        by_language = {code: sum(m for name, m in zip(blind, meeting, strict=True)
                                 if _language_of(name) == code)
                       for code in sorted({_language_of(name) for name in blind})}  # fmt: skip
        out[candidate] = Sweep(row, len(blind), sum(meeting),
                               sum(r.meets_targets for r in per_set), by_language)  # fmt: skip
    return out


def english_sweep(
    paths: Sequence[Path],
    oof: np.ndarray[Any, Any],
    candidates: Sequence[float] = ENGLISH_CANDIDATES,
    policy_path: Path | None = None,
    read: _Read | None = None,
) -> dict[float, Rates]:
    """What each candidate threshold for prompts told English stops of the English prompts
    as written, out of fold; the other languages keep the policy's thresholds."""
    policy = load_policy(policy_path) if policy_path else load_policy()
    examples, _, combined, told, lang, written = read or _read(paths, oof, policy)
    own = policy.text_model.language_thresholds
    others = np.array([own.get(code, policy.text_model.threshold) for code in told])
    out: dict[float, Rates] = {}
    for candidate in candidates:
        stopped = combined >= np.where(told == DEFAULT, candidate, others)
        out[candidate] = rates([(e, bool(s)) for e, s, w, keep
                                in zip(examples, stopped, lang, written, strict=True)
                                if keep and w == DEFAULT])  # fmt: skip
    return out


def choose_english(report: dict[float, Rates]) -> float:
    """The candidate with the most unsafe English prompts stopped less benign ones, as
    shares (Youden's J: a missed unsafe prompt and a stopped benign one cost alike, as the
    English targets, >= 98.6% and <= 1.6%, nearly have it); of candidates alike, the
    highest."""
    return max(report, key=lambda t: (round(report[t].recall - report[t].false_positive_rate,
                                            9), t))  # fmt: skip


def _language_of(name: str) -> str:
    """A blind set's language: "heldout12-lang-zh" -> "zh"."""
    return Path(name).stem.rsplit("-", 1)[1]


def choose(report: dict[float, Sweep], margin: int = MARGIN) -> dict[str, float]:
    """Each language's threshold: the one for all (most blind sets meeting the rates; of
    candidates alike in that, the highest: fewest benign prompts stopped), unless another
    candidate meets at least `margin` more of the language's own sets than it does; then
    the language's best (most of its sets, then the highest). A margin keeps a language
    from chasing a set or two of noise."""
    shared = max(report, key=lambda t: (report[t].meeting_rates, t))
    languages_ = report[shared].meeting_by_language
    out = {}
    for code in languages_:
        best = max(report, key=lambda t: (report[t].meeting_by_language[code], t))
        gain = report[best].meeting_by_language[code] - languages_[code]
        out[code] = best if gain >= max(margin, 1) else shared
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("oof", type=Path, help="out-of-fold scores from moderation-train")
    parser.add_argument("files", nargs="*", type=Path, help="the sets (default: shipped ones)")
    parser.add_argument("--thresholds", nargs="+", type=float, default=list(CANDIDATES))
    parser.add_argument("--policy", type=Path, help="policy YAML (default: the shipped one)")
    parser.add_argument("--margin", type=int, default=MARGIN,
                        help="sets of its own a language must gain to leave the one for all")  # fmt: skip
    parser.add_argument("--english", nargs="*", type=float,
                        help="also sweep these thresholds for English (default candidates: "
                             f"{' '.join(map(str, ENGLISH_CANDIDATES))})")  # fmt: skip
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    args = parser.parse_args(argv)
    paths = args.files or training_paths()
    try:
        oof = np.load(args.oof)
        policy = load_policy(args.policy) if args.policy else load_policy()
        read = _read(paths, oof, policy)  # the rules over every prompt: once for both sweeps
        report = sweep(paths, oof, args.thresholds, args.policy, read)
        english = (english_sweep(paths, oof, args.english or ENGLISH_CANDIDATES, args.policy,
                                 read) if args.english is not None else {})  # fmt: skip
    except ValueError as exc:  # scores saved for other sets: say which file
        parser.error(f"{args.oof}: {exc}")
    first = next(iter(report.values()))
    print(f"{'written in':22}" + "".join(f"{t:>20}" for t in report))
    for key in first.rates:
        cells = [f"{r.unsafe_stopped}/{r.unsafe} {r.benign_stopped}/{r.benign}"
                 for r in (sweep.rates[key] for sweep in report.values())]  # fmt: skip
        print(f"{key.removeprefix('lang:'):22}" + "".join(f"{c:>20}" for c in cells))
    for label, field in (
        ("blind sets: rates", "meeting_rates"),
        ("blind sets: all", "meeting_all"),
    ):
        cells = [f"{getattr(sweep, field)}/{sweep.blind_sets}" for sweep in report.values()]
        print(f"{label:22}" + "".join(f"{c:>20}" for c in cells))
    chosen = choose(report, args.margin)
    for code in chosen:
        cells = [f"{sweep.meeting_by_language[code]}" + ("*" if t == chosen[code] else "")
                 for t, sweep in report.items()]  # fmt: skip
        print(f"{'sets meeting: ' + code:22}" + "".join(f"{c:>20}" for c in cells))
    print(
        f"* each language's choice: the best for all, unless its own best meets {args.margin} "
        "more of its sets"
    )
    if english:
        print(f"\n{'English threshold':22}" + "".join(f"{t:>20}" for t in english))
        cells = [f"{r.unsafe_stopped}/{r.unsafe} {r.benign_stopped}/{r.benign}"
                 for r in english.values()]  # fmt: skip
        print(f"{'en (as written)':22}" + "".join(f"{c:>20}" for c in cells))
        best = choose_english(english)
        cells = [f"{r.recall - r.false_positive_rate:.4f}" + ("*" if t == best else "")
                 for t, r in english.items()]  # fmt: skip
        print(f"{'recall - benign rate':22}" + "".join(f"{c:>20}" for c in cells))
        print("* the English choice: the most unsafe stopped less benign stopped, as shares")
    if args.out:
        out = {"oof": str(args.oof), "files": len(paths),
               "report": {str(t): {"rates": {k: r.model_dump() for k, r in sweep.rates.items()},
                                   "blind_sets": sweep.blind_sets,
                                   "meeting_rates": sweep.meeting_rates,
                                   "meeting_all": sweep.meeting_all,
                                   "meeting_by_language": sweep.meeting_by_language}
                          for t, sweep in report.items()},
               "margin": args.margin, "chosen": chosen,
               "english": {str(t): r.model_dump() for t, r in english.items()},
               "english_chosen": choose_english(english) if english else None}  # fmt: skip
        args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
