"""Which threshold to give prompts in other languages than English, chosen out of fold.

    vidflow moderation-train --out M.npz --out-of-fold OOF.npy
    python -m moderation.bench.language_thresholds OOF.npy --out L.json [SETS...]

Scores every prompt of the sets the scores were saved for (default: the shipped training
sets) with a combiner fitted on the other folds (as `combiner_columns` does: whole sets to a
fold), tells each prompt's language from its normalised text as the moderator does
(moderation/language.py), and prints, for each candidate threshold given to every language
but English, the unsafe and benign prompts stopped per written language. English prompts
stay at the policy's `text_model.threshold`. Only the combined decision is counted: the few
rules that act alone are left out, which counts a little fewer stops than the moderator
makes. Choose the threshold here, on sets the combiner never read, never on a blind set.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from moderation.bench.combiner_columns import fold_of, scores
from moderation.evaluate import Rates, rates
from moderation.language import DEFAULT, languages
from moderation.normalize import normalize
from moderation.policy import load_policy
from moderation.text_model import BENIGN
from moderation.train import SPENT_LANGUAGE_SETS, evidence, label_of, load_sets, training_paths

CANDIDATES = (0.6, 0.55, 0.5, 0.45, 0.4, 0.35, 0.3)


def sweep(
    paths: Sequence[Path],
    oof: np.ndarray[Any, Any],
    candidates: Sequence[float] = CANDIDATES,
    policy_path: Path | None = None,
) -> dict[float, dict[str, Rates]]:
    """{threshold for other languages: {"lang:XX" or "all but en": Rates}}."""
    policy = load_policy(policy_path) if policy_path else load_policy()
    sets = load_sets(paths)
    examples = [e for _, held in sets for e in held]
    if len(examples) != len(oof):
        raise ValueError(f"{len(oof)} scores for {len(examples)} prompts: not these sets' scores")
    names = [name for name, held in sets for _ in held]
    classes = sorted({label_of(e) for e in examples} - {BENIGN})  # the model's, in order
    inputs, _, _ = evidence(examples, oof, classes, policy)
    unsafe = np.array([e.label == "unsafe" for e in examples])
    combined = scores(inputs, unsafe, np.array([fold_of(n) for n in names]))
    told = np.array(languages((normalize(e.text) for e in examples), SPENT_LANGUAGE_SETS))
    written = np.array([e.lang or DEFAULT for e in examples])
    out: dict[float, dict[str, Rates]] = {}
    for candidate in candidates:
        threshold = np.where(told == DEFAULT, policy.text_model.threshold, candidate)
        pairs = list(zip(examples, (combined >= threshold).tolist(), strict=True))
        row = {f"lang:{lang}": rates([p for p, w in zip(pairs, written, strict=True) if w == lang])
               for lang in sorted(set(written))}  # fmt: skip
        row["all but en"] = rates([p for p, w in zip(pairs, written, strict=True) if w != DEFAULT])
        out[candidate] = row
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("oof", type=Path, help="out-of-fold scores from moderation-train")
    parser.add_argument("files", nargs="*", type=Path, help="the sets (default: shipped ones)")
    parser.add_argument("--thresholds", nargs="+", type=float, default=list(CANDIDATES))
    parser.add_argument("--policy", type=Path, help="policy YAML (default: the shipped one)")
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    args = parser.parse_args(argv)
    try:
        report = sweep(args.files or training_paths(), np.load(args.oof), args.thresholds,
                       args.policy)  # fmt: skip
    except ValueError as exc:  # scores saved for other sets: say which file
        parser.error(f"{args.oof}: {exc}")
    keys = list(next(iter(report.values())))
    print(f"{'written in':12}" + "".join(f"{t:>16}" for t in report))
    for key in keys:
        cells = [f"{r.unsafe_stopped}/{r.unsafe} {r.benign_stopped}/{r.benign}"
                 for r in (report[t][key] for t in report)]  # fmt: skip
        print(f"{key.removeprefix('lang:'):12}" + "".join(f"{c:>16}" for c in cells))
    if args.out:
        out = {"oof": str(args.oof), "files": len(args.files or training_paths()),
               "report": {str(t): {k: r.model_dump() for k, r in row.items()}
                          for t, row in report.items()}}  # fmt: skip
        args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
