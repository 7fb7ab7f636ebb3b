"""Train the prompt classifier of `moderation/text_model.py` on labelled JSONL sets.

`vidflow moderation-train` runs `train` on the shipped training sets and writes the model
that `PromptModerator` loads. `cross_validation_table` holds out one source file at a time: each
file was written by a different author in a different style, so its score is the score on
prompts written by somebody the model never read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits

from moderation.evaluate import Example, load_examples
from moderation.policy import Policy, load_policy
from moderation.text_model import BENIGN, BUCKETS, TextModel, evidence_matrix, feature_ids

DATA = Path(__file__).parent / "data"
MODEL = DATA / "text_model.npz"
# The sets the shipped model learns from; the blind test sets are never among them.
TRAINING_SETS = (
    "dev", "dev2", "heldout", "heldout2", "heldout3", "heldout4",
    "train-tags", "train-cinematic", "train-chatty", "train-euphemism", "train-euphemism-2",
    "train-obfuscated", "train-obfuscated-2", "train-boundary", "train-redteam",
    "train-oneliners", "train-hate-weapons-impersonation", "train-hate-weapons-violence",
    "train-impersonation-minors-sexual", "train-benign-heavy", "train-mixed",
    "train-multilingual", "train-storyboards", "train-creators",
)  # fmt: skip
# Inverse L2 strength of the logistic regression; picked by cross-validation (see
# docs/benchmarks.md, "Fourth session: a learned classifier").
C = 16.0
# Folds of the out-of-fold scores the combiner learns from.
FOLDS = 6


def load_sets(paths: Sequence[Path]) -> list[tuple[str, list[Example]]]:
    return [load_examples(path) for path in paths]


def label_of(example: Example) -> str:
    return BENIGN if example.label == "benign" else example.category or "unknown"


def design(texts: Sequence[str]) -> sparse.csr_matrix:
    """Binary hashed features, each row L2-normalised."""
    indptr, indices = [0], []
    for text in texts:
        ids = feature_ids(text)
        indices.append(ids)
        indptr.append(indptr[-1] + len(ids))
    cols = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
    data = np.ones(len(cols), dtype=np.float64)
    lengths = np.diff(indptr)
    data /= np.sqrt(np.repeat(np.maximum(lengths, 1), lengths))
    return sparse.csr_matrix((data, cols, np.array(indptr)), shape=(len(texts), BUCKETS))


def sample_weights(labels: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Benign prompts weigh as much as unsafe ones in all; categories weigh alike."""
    counts = {label: labels.count(label) for label in set(labels)}
    unsafe = [label for label in counts if label != BENIGN]
    half = len(labels) / 2
    return np.array(
        [half / counts[label] if label == BENIGN else half / len(unsafe) / counts[label]
         for label in labels]
    )  # fmt: skip


def fit(examples: Sequence[Example], c: float = C) -> TextModel:
    from sklearn.linear_model import LogisticRegression

    x = design([e.text for e in examples])
    y = [label_of(e) for e in examples]
    seen = np.unique(x.indices)
    regression = LogisticRegression(C=c, max_iter=3000)
    # One thread: on a small shared machine, BLAS threads fighting over cores cost more
    # than they give here (20 s against 33 s a fit on 2 cores).
    with threadpool_limits(1):
        regression.fit(x[:, seen], y, sample_weight=sample_weights(y))
    return TextModel(
        classes=tuple(str(c) for c in regression.classes_),
        buckets=seen.astype(np.int64),
        weights=regression.coef_.T.astype(np.float32),
        bias=regression.intercept_.astype(np.float32),
    )


def out_of_fold(
    sets: Sequence[tuple[str, list[Example]]],
    c: float = C,
    folds: int = FOLDS,
    progress: Callable[[str], None] | None = None,
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """P(unsafe) of every example (in order) from a model that did not train on its set.

    Whole sets go to folds (round robin), so each score is that of a model that never read
    its author; with a single set, examples go to folds instead.
    """
    examples = [e for _, held in sets for e in held]
    if len(sets) > 1:
        group = np.concatenate([np.full(len(held), i) for i, (_, held) in enumerate(sets)])
    else:
        group = np.arange(len(examples))
    fold = group % min(folds, len(np.unique(group)))
    unsafe = np.zeros(len(examples))
    for k in np.unique(fold):
        if progress:
            progress(f"fold {k + 1}/{len(np.unique(fold))}")
        model = fit([e for e, f in zip(examples, fold, strict=True) if f != k], c)
        held = [e.text for e, f in zip(examples, fold, strict=True) if f == k]
        probabilities = model.predict_proba(held)
        if BENIGN in model.classes:
            unsafe[fold == k] = 1.0 - probabilities[:, model.classes.index(BENIGN)]
        else:
            unsafe[fold == k] = 1.0
    return unsafe


def evidence(
    examples: Sequence[Example],
    unsafe: np.ndarray[Any, np.dtype[Any]],
    classes: Sequence[str],
    policy: Policy | None = None,
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.bool_]],
           np.ndarray[Any, np.dtype[np.bool_]]]:  # fmt: skip
    """The combiner's input for each example (model log-odds, rule hits, profanity), and
    whether any term rule fires on it, and whether one fires that acts alone (its category
    weighs as no class of the model)."""
    from moderation.prompt_filter import PromptModerator

    moderator = PromptModerator((policy or load_policy()).rules_only())
    _, reasons, profanity = moderator.evidence([(e.text, "") for e in examples])
    fired = [[r for r in found if r.field == "prompt" and r.action != "allow"] for found in reasons]
    ruled = np.array([bool(found) for found in fired])
    alone = np.array([any(moderator.weighs_as(r.category) not in classes for r in found)
                      for found in fired])  # fmt: skip
    return evidence_matrix(unsafe, moderator.hits(reasons, classes), profanity), ruled, alone


def fit_combiner(
    inputs: np.ndarray[Any, np.dtype[Any]], unsafe: np.ndarray[Any, np.dtype[np.bool_]]
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], float]:
    """Weights and bias over `evidence` columns; benign and unsafe weigh alike."""
    from sklearn.linear_model import LogisticRegression

    if unsafe.all() or not unsafe.any():
        raise ValueError("training needs both benign and unsafe examples")
    share = unsafe.mean()
    weights = np.where(unsafe, 0.5 / share, 0.5 / (1 - share))
    regression = LogisticRegression(C=1.0, max_iter=2000)
    regression.fit(inputs, unsafe, sample_weight=weights)
    return regression.coef_[0].astype(np.float64), float(regression.intercept_[0])


def training_paths() -> list[Path]:
    return [DATA / f"{name}.jsonl" for name in TRAINING_SETS]


def provenance(paths: Sequence[Path], c: float, folds: int) -> str:
    """What a model was trained on: each file's SHA-256, and the settings."""
    digests = {Path(p).name: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}
    return json.dumps({"sets": digests, "c": c, "folds": folds}, sort_keys=True)


def train(
    paths: Sequence[Path],
    out: Path,
    c: float = C,
    folds: int = FOLDS,
    policy: Policy | None = None,
    progress: Callable[[str], None] | None = None,
) -> TextModel:
    """Fit the model on every example of `paths`, then its combiner out of fold; write it."""
    sets = load_sets(paths)
    examples = [e for _, held in sets for e in held]
    if progress:
        progress(f"{len(examples)} prompts from {len(sets)} sets")
    model = fit(examples, c)
    unsafe = out_of_fold(sets, c, folds, progress)
    inputs, _, _ = evidence(examples, unsafe, model.unsafe_classes, policy)
    weights, bias = fit_combiner(inputs, np.array([e.label == "unsafe" for e in examples]))
    model = replace(model, combiner=weights, combiner_bias=bias,
                    provenance=provenance(paths, c, folds))  # fmt: skip
    model.save(out)
    return model


def cross_validation_table(paths: Sequence[Path], policy: Policy, c: float = C) -> str:
    """Leave one set out: the model alone, the rules alone, and combined, per held-out set.

    Each cell is "% unsafe stopped / % benign stopped" at the policy's threshold. "rules"
    is every term rule acting alone (text_model disabled); "combined" is what the moderator
    decides with the model on: the combiner's score, or a rule that acts alone. The
    combiner of each held-out set is fitted on the other sets' out-of-fold scores (those
    scores come from models that did read the held-out set: slightly optimistic). The rules
    were written while reading some of these sets, so their column is optimistic there.
    """
    sets = load_sets(paths)
    examples = [e for _, held in sets for e in held]
    classes = sorted({label_of(e) for e in examples} - {BENIGN})
    unsafe = out_of_fold(sets, c, folds=len(sets))
    inputs, ruled, alone = evidence(examples, unsafe, classes, policy)
    labels = np.array([e.label == "unsafe" for e in examples])
    owner = np.concatenate([np.full(len(held), i) for i, (_, held) in enumerate(sets)])
    combined = np.zeros(len(examples))
    for i in range(len(sets)):
        weights, bias = fit_combiner(inputs[owner != i], labels[owner != i])
        combined[owner == i] = 1.0 / (1.0 + np.exp(-(inputs[owner == i] @ weights + bias)))
    threshold = policy.text_model.threshold
    columns: dict[str, np.ndarray[Any, np.dtype[np.bool_]]] = {
        "model": unsafe >= threshold,
        "rules": ruled,
        "combined": (combined >= threshold) | alone,
    }
    lines = [f"{'held out':<34}{'n':>6}" + "".join(f"{name:>14}" for name in columns)]
    for i, (name, held) in enumerate([*sets, ("all", examples)]):
        rows: np.ndarray[Any, np.dtype[np.bool_]] = (
            owner == i if name != "all" else np.ones(len(examples), dtype=bool)
        )
        cells = [_cell(stopped[rows], labels[rows]) for stopped in columns.values()]
        lines.append(f"{Path(name).stem:<34}{len(held):>6}" + "".join(f"{c:>14}" for c in cells))
    # Where the combined decision stops 1, 1.5 and 2% of benign prompts, and what it stops
    # there (rules that act alone stop what they stop at any threshold).
    for rate in (0.01, 0.015, 0.02):
        free = combined[~labels & ~alone]  # benign prompts the threshold still decides
        room = rate * (~labels).sum() - (~labels & alone).sum()
        if room < 0:
            lines.append(f"combined threshold for {100 * rate:g}% of benign stopped: none "
                         "(rules acting alone stop more)")  # fmt: skip
            continue
        at = float(np.quantile(free, 1 - room / len(free))) if len(free) else 1.0
        stopped = (combined > at) | alone
        lines.append(f"combined threshold for {100 * rate:g}% of benign stopped: {at:.3f}, "
                     f"stopping {_cell(stopped, labels)}")  # fmt: skip
    return "\n".join(lines)


def _cell(stopped: np.ndarray[Any, np.dtype[Any]], unsafe: np.ndarray[Any, np.dtype[Any]]) -> str:
    hit = 100 * stopped[unsafe].sum() / max(unsafe.sum(), 1)
    return f"{hit:.1f}/{100 * stopped[~unsafe].sum() / max((~unsafe).sum(), 1):.1f}"
