"""What the combiner's hidden-word columns change, out of fold, without training again.

    vidflow moderation-train --out M.npz --out-of-fold OOF.npy
    python -m moderation.bench.combiner_columns OOF.npy --out C.json [SETS...]

Reads the sets the scores were saved for (default: the shipped training sets, in the same
order), their rule hits and profanity with the policy, and `hidden_words`. Then fits the
combiner twice, with and without the "spelled out" and "disguised" columns, each on four
fifths of the sets and scored on the rest (whole sets to a fold, by a hash of the set's
name), and prints, per slice and per language, the unsafe and benign prompts stopped at the
policy's threshold. The model columns are out of fold already, so every score is that of a
combiner and models that never read the prompt's set.
"""

from __future__ import annotations

import argparse
import json
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from moderation.evaluate import Example, Rates, load_examples, rates
from moderation.policy import Policy, load_policy
from moderation.text_model import BENIGN, HIDDEN_WORDS
from moderation.train import (
    combined_out_of_fold,
    evidence,
    label_of,
    training_paths,
    with_copies,
)

FOLDS = 5


def fold_of(name: str) -> int:
    return zlib.crc32(Path(name).stem.encode()) % FOLDS


# P(unsafe) of each row from combiners fitted on the other folds (with `told`, one for
# prompts told English and one for the rest), as training fits them.
scores = combined_out_of_fold


def slice_of(name: str) -> str:
    """The kind of set: a spent blind round, a train-lang file, or the rest."""
    stem = Path(name).stem
    if stem.startswith("heldout") and "-lang-" in stem:
        return "blind rounds spent"
    return "train-lang" if stem.startswith("train-lang") else "other"


class Scored(NamedTuple):
    """The sets out-of-fold scores were saved for, a row per prompt (copies included)."""

    sets: list[tuple[str, list[Example]]]
    examples: list[Example]
    names: list[str]  # each row's set
    inputs: np.ndarray[Any, np.dtype[np.float64]]  # the combiner's, `train.evidence`
    unsafe: np.ndarray[Any, np.dtype[np.bool_]]
    written: np.ndarray[Any, np.dtype[np.bool_]]  # a prompt as written, not a training copy


def scored(paths: Sequence[Path], oof: np.ndarray[Any, Any], policy: Policy) -> Scored:
    """The sets as training reads them (`train.load_sets`), checked against the scores."""
    read = [load_examples(path) for path in paths]
    sets = [(name, with_copies(held)) for name, held in read]
    # Each set's prompts as written come first, then training's copies of some of them.
    written = np.concatenate([np.arange(len(copied)) < len(held)
                              for (_, held), (_, copied) in zip(read, sets, strict=True)])  # fmt: skip
    examples = [e for _, held in sets for e in held]
    if len(examples) != len(oof):
        raise ValueError(f"{len(oof)} scores for {len(examples)} prompts: not these sets' scores")
    names = [name for name, held in sets for _ in held]
    classes = sorted({label_of(e) for e in examples} - {BENIGN})  # the model's, in order
    inputs, _, _ = evidence(examples, oof, classes, policy)
    unsafe = np.array([e.label == "unsafe" for e in examples])
    return Scored(sets, examples, names, inputs, unsafe, written)


def compare(paths: Sequence[Path], oof: np.ndarray[Any, Any], policy_path: Path | None = None
            ) -> dict[str, dict[str, Rates]]:  # fmt: skip
    """{"without"/"with" hidden columns: {slice or "lang:XX" or "all": Rates}}."""
    policy = load_policy(policy_path) if policy_path else load_policy()
    _, examples, names, inputs, unsafe, _ = scored(paths, oof, policy)
    folds = np.array([fold_of(n) for n in names])
    threshold = policy.text_model.threshold
    out: dict[str, dict[str, Rates]] = {}
    for variant, columns in (("without", inputs[:, : -len(HIDDEN_WORDS)]), ("with", inputs)):
        stopped = scores(columns, unsafe, folds) >= threshold
        pairs = list(zip(examples, stopped.tolist(), strict=True))
        row = {"all": rates(pairs)}
        for key in sorted({slice_of(n) for n in names}):
            row[key] = rates([p for p, n in zip(pairs, names, strict=True) if slice_of(n) == key])
        for lang in sorted({e.lang for e in examples if e.lang}):
            row[f"lang:{lang}"] = rates([p for p in pairs if p[0].lang == lang])
        out[variant] = row
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("oof", type=Path, help="out-of-fold scores from moderation-train")
    parser.add_argument("files", nargs="*", type=Path, help="the sets (default: shipped ones)")
    parser.add_argument("--policy", type=Path, help="policy YAML (default: the shipped one)")
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    args = parser.parse_args(argv)
    try:
        report = compare(args.files or training_paths(), np.load(args.oof), args.policy)
    except ValueError as exc:  # scores saved for other sets: say which file
        parser.error(f"{args.oof}: {exc}")
    print(
        f"{'slice':24} {'without: unsafe':>18} {'benign':>12} {'with: unsafe':>18} {'benign':>12}"
    )
    for key in report["with"]:
        cells = [f"{r.unsafe_stopped:>8}/{r.unsafe:<9} {r.benign_stopped:>5}/{r.benign:<6}"
                 for r in (report["without"][key], report["with"][key])]  # fmt: skip
        print(f"{key:24} {cells[0]} {cells[1]}")
    if args.out:
        out = {"oof": str(args.oof), "files": len(args.files or training_paths()),
               "report": {v: {k: r.model_dump() for k, r in row.items()}
                          for v, row in report.items()}}  # fmt: skip
        args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
