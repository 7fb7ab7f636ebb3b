"""How well does the subword model read prompts with its pieces fitted to e5's whole-prompt
readings, at each strength? The study that chose `TUNING` in moderation/train.py.

    python -m moderation.bench.piece_fit --held-out heldout7 --leave-out -10 \
        --strengths 0.01 0.1 0.3 1 3 --out piece-fit.json

Trains the subword model alone (no n-gram model, no combiner) on the shipped training sets
less the `<held-out>-lang-XX` blind sets and any set whose name ends with `--leave-out`
(a later round's data), and scores those blind sets (and the English heldout5-8): the
pieces read alone and centred per script (the model before the fit), fitted at each
strength (with and without centring), and e5 itself reading each prompt whole with the same
kind of head (the ceiling: too slow to run in `check()`). Features are whole-prompt means,
as in training. e5 reads every prompt once (cached: about 30 minutes of 2 cores the first
time). Prints ROC AUC and unsafe / benign stopped at 0.5, and writes JSON.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from moderation.e5_teacher import center_scripts, fit_piece_vectors, sentence_vectors
from moderation.evaluate import Example, load_examples
from moderation.normalize import normalize
from moderation.subword_model import mean_matrix, prompt_vectors
from moderation.train import (
    DATA,
    SubwordTeacher,
    label_of,
    load_sets,
    sample_weights,
    training_paths,
)

Array = np.ndarray[Any, np.dtype[Any]]


def head(x: Array, examples: Sequence[Example]) -> Callable[[Array], Array]:
    """P(unsafe) from a logistic regression on standardised features, as the subword head."""
    from sklearn.linear_model import LogisticRegression

    labels = [label_of(e) for e in examples]
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    regression = LogisticRegression(C=1.0, max_iter=3000)
    regression.fit((x - mean) / scale, labels, sample_weight=sample_weights(labels))
    benign = list(regression.classes_).index("benign")
    return lambda rows: 1.0 - regression.predict_proba((rows - mean) / scale)[:, benign]


def scores(unsafe: Array, examples: Sequence[Example]) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    labels = np.array([e.label == "unsafe" for e in examples])
    return {"auc": float(roc_auc_score(labels, unsafe)),
            "unsafe_stopped": float((unsafe[labels] >= 0.5).mean()),
            "benign_stopped": float((unsafe[~labels] >= 0.5).mean())}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", default="heldout7", help="blind round to score")
    parser.add_argument("--leave-out", default="-10", help="suffix of later training sets")
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.01, 0.1, 0.3, 1, 3])
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    paths = [p for p in training_paths()
             if not p.stem.startswith(f"{args.held_out}-lang-") and not p.stem.endswith(args.leave_out)]  # fmt: skip
    train = [e for _, held in load_sets(paths) for e in held]
    tests = {
        "languages": [e for p in sorted(DATA.glob(f"{args.held_out}-lang-*.jsonl"))
                      for e in load_examples(p)[1]],
        "english": [e for n in (5, 6, 7, 8) for e in load_examples(DATA / f"heldout{n}.jsonl")[1]],
    }  # fmt: skip
    texts = [e.text for e in train]
    teacher = SubwordTeacher(texts, progress=print, read_whole=True)
    whole = list(dict.fromkeys(normalize(t) for t in texts))
    targets = teacher.readings(whole)

    def read(vectors: Array, examples: Sequence[Example]) -> Array:
        return prompt_vectors(teacher.base, vectors, [e.text for e in examples])

    def e5(examples: Sequence[Example]) -> Array:
        return sentence_vectors([normalize(e.text) for e in examples], progress=print)

    variants: dict[str, tuple[Callable[[Sequence[Example]], Array], Array]] = {}
    centred = center_scripts(teacher.base.pieces, teacher.alone, teacher.base.weights)
    variants["pieces alone, centred"] = (partial(read, centred), read(centred, train))
    means = mean_matrix(teacher.base, whole)
    for strength in args.strengths:
        fitted = fit_piece_vectors(means, targets, teacher.alone, strength)
        both = center_scripts(teacher.base.pieces, fitted, teacher.base.weights)
        variants[f"fitted {strength:g}"] = (partial(read, fitted), read(fitted, train))
        variants[f"fitted {strength:g}, centred"] = (partial(read, both), read(both, train))
    variants["e5 reading whole prompts"] = (e5, teacher.readings([normalize(t) for t in texts]))
    results: dict[str, dict[str, dict[str, float]]] = {}
    print(f"{'variant':28} " + " ".join(f"{name:>28}" for name in tests))
    for name, (features, trained) in variants.items():
        unsafe = head(trained, train)
        results[name] = {t: scores(unsafe(features(ex)), ex) for t, ex in tests.items()}
        cells = [f"AUC {r['auc']:.4f} {100 * r['unsafe_stopped']:.1f}/{100 * r['benign_stopped']:.1f}"
                 for r in results[name].values()]  # fmt: skip
        print(f"{name:28} " + " ".join(f"{c:>28}" for c in cells))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
