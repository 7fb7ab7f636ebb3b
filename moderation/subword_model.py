"""The multilingual signal: a prompt read as e5 subword pieces, scored by a linear head.

The n-gram model (text_model.py) learns the words it was shown; a prompt in a language it
read little of, or a synonym it never saw, passes it. This model reads a prompt through
multilingual-e5-small's own SentencePiece vocabulary, each piece standing for the vector
e5 gives it alone (moderation/e5_teacher.py, computed once at training time), so "desnuda",
"голая" and "naked" land near each other, and a head trained mostly on one language carries
over to the others (docs/moderation-multilingual.md has the per-language table).

A prompt's vector is the mean of its pieces' vectors, each weighted by how rare the piece is
(a / (a + p), p its unigram probability: "▁the" and "," count little). The head is a
multinomial logistic regression over "benign" and the categories. Because both the mean and
the head are linear, the shipped file keeps, per piece, only its weight and its [classes]
logit contribution (the head applied to its vector), not the 384-d vectors: scoring a
prompt is a tokenisation and a table lookup. A long prompt is also read in windows of
`WINDOW` pieces and scored by its most unsafe window, so one bad sentence among a hundred
benign words is not averaged away.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from moderation.normalize import normalize

if TYPE_CHECKING:
    from tokenizers import Tokenizer

BENIGN = "benign"
WINDOW = 48
# The SIF constant: a piece as frequent as this weighs half; rarer pieces weigh ~1.
SIF = 1e-4
UNKNOWN = "<unk>"
# Piece weight of the prior: a training prompt's pieces weigh 11 in the median (6 at the
# 5th percentile), so it moves a typical prompt's score little and a one-word prompt's much.
# At 1.0, "a cat" (violence) and "an apple" (impersonation) were still stopped; at 2.0
# neither is, and "голая", "裸体", "una mujer desnuda" still are (tests/moderation).
PRIOR_MASS = 2.0

FloatArray = np.ndarray[Any, np.dtype[np.float32]]


def piece_weights(scores: np.ndarray[Any, np.dtype[Any]]) -> FloatArray:
    """SIF weights from unigram log-probabilities: frequent pieces weigh little."""
    return np.asarray(SIF / (SIF + np.exp(scores.astype(np.float64))), dtype=np.float32)


@dataclass(frozen=True)
class SubwordModel:
    """Per-piece weights and logit contributions over e5's vocabulary (those kept)."""

    classes: tuple[str, ...]
    pieces: tuple[str, ...]  # pieces[0] is UNKNOWN, which weighs nothing
    scores: FloatArray  # unigram log-probabilities, for tokenising
    contributions: FloatArray  # [len(pieces), len(classes)]: the head applied to each vector
    bias: FloatArray  # [len(classes)]
    window: int = WINDOW
    # What the average training prompt's pieces contribute ([classes]), and how much piece
    # weight it counts for: a prompt of one or two pieces ("a cat") is read as mostly
    # average, not as the far end of whatever its one piece leans to.
    prior: FloatArray | None = None
    prior_mass: float = PRIOR_MASS

    @cached_property
    def weights(self) -> FloatArray:
        weights = piece_weights(self.scores)
        weights[0] = 0.0
        return weights

    @cached_property
    def tokenizer(self) -> Tokenizer:
        """e5's unigram tokenizer over the kept pieces: any text splits into known pieces."""
        from tokenizers import Tokenizer, models, pre_tokenizers

        vocabulary = [(p, float(s)) for p, s in zip(self.pieces, self.scores, strict=True)]
        tokenizer = Tokenizer(models.Unigram(vocabulary, unk_id=0, byte_fallback=False))
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        return tokenizer

    def piece_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """The piece ids of each prompt's normalised text."""
        return [e.ids for e in self.tokenizer.encode_batch([normalize(t) for t in texts])]

    def logits(self, ids: Sequence[int]) -> FloatArray:
        """Class logits of one prompt: the whole prompt, or its most unsafe window."""
        prior = np.zeros(len(self.classes)) if self.prior is None else self.prior
        prior_mass = 0.0 if self.prior is None else self.prior_mass
        if not ids:
            return np.asarray(prior + self.bias, np.float32)
        at = np.asarray(ids, dtype=np.int64)
        weight = self.weights[at].astype(np.float64)
        weighted = self.contributions[at].astype(np.float64) * weight[:, None]
        if len(at) <= self.window:
            total = weighted.sum(0) + prior_mass * prior
            return np.asarray(total / max(weight.sum() + prior_mass, 1e-9) + self.bias, np.float32)
        # Every window of `window` pieces, from running sums.
        totals = np.vstack([np.zeros((1, weighted.shape[1])), np.cumsum(weighted, axis=0)])
        mass = np.concatenate([[0.0], np.cumsum(weight)])
        sums = totals[self.window :] - totals[: -self.window] + prior_mass * prior
        masses = np.maximum(mass[self.window :] - mass[: -self.window] + prior_mass, 1e-9)
        z = sums / masses[:, None] + self.bias
        benign = self.classes.index(BENIGN)
        # The most unsafe window: the least benign after softmax (log-sum-exp margin).
        peak = z.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(z - peak).sum(axis=1)) + peak[:, 0]
        return np.asarray(z[int(np.argmin(z[:, benign] - log_norm))], dtype=np.float32)

    def predict_proba(self, texts: Iterable[str]) -> FloatArray:
        """[len(texts), len(classes)] class probabilities."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        z = np.stack([self.logits(ids) for ids in self.piece_ids(texts)]).astype(np.float64)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return np.asarray(z / z.sum(axis=1, keepdims=True), dtype=np.float32)

    def arrays(self, prefix: str) -> dict[str, np.ndarray[Any, Any]]:
        """The model as named arrays, to save inside another model's .npz."""
        return {
            f"{prefix}classes": np.array(self.classes),
            # One UTF-8 string: a fixed-width array of 100,000 pieces would be 7 MB.
            f"{prefix}pieces": np.frombuffer("\n".join(self.pieces).encode("utf-8"), np.uint8),
            f"{prefix}scores": self.scores.astype(np.float32),
            f"{prefix}contributions": self.contributions.astype(np.float16),
            f"{prefix}bias": self.bias.astype(np.float32),
            f"{prefix}window": np.array(self.window, dtype=np.int64),
            **({} if self.prior is None else {f"{prefix}prior": self.prior.astype(np.float32),
                f"{prefix}prior_mass": np.array(self.prior_mass)}),
        }  # fmt: skip

    @classmethod
    def from_arrays(cls, data: Any, prefix: str) -> SubwordModel:
        return cls(
            classes=tuple(str(c) for c in data[f"{prefix}classes"]),
            pieces=tuple(bytes(data[f"{prefix}pieces"]).decode("utf-8").split("\n")),
            scores=data[f"{prefix}scores"].astype(np.float32),
            contributions=data[f"{prefix}contributions"].astype(np.float32),
            bias=data[f"{prefix}bias"].astype(np.float32),
            window=int(data[f"{prefix}window"]),
            prior=data[f"{prefix}prior"].astype(np.float32) if f"{prefix}prior" in data else None,
            prior_mass=float(data[f"{prefix}prior_mass"]) if f"{prefix}prior" in data else 0.0,
        )

    def with_prior(self, texts: Sequence[str]) -> SubwordModel:
        """This model with its prior: the mean contribution of `texts` (the training set)."""
        means = [
            self.weights[ids] @ self.contributions[ids] / max(float(self.weights[ids].sum()), 1e-9)
            for ids in self.piece_ids(texts)
            if ids
        ]
        prior = np.mean(means, axis=0) if means else np.zeros(len(self.classes))
        return replace(self, prior=prior.astype(np.float32), prior_mass=PRIOR_MASS)


def mean_matrix(model: SubwordModel, texts: Sequence[str]) -> Any:
    """[len(texts), len(pieces)] sparse: each prompt's piece weights, summing to one (a
    prompt without known pieces has an empty row), so that `mean_matrix @ vectors` is each
    prompt's weighted mean piece vector."""
    from scipy import sparse

    rows, cols, values = [], [], []
    for row, ids in enumerate(model.piece_ids(texts)):
        if ids:
            weight = model.weights[ids].astype(np.float64)
            rows.extend([row] * len(ids))
            cols.extend(ids)
            values.extend(weight / max(weight.sum(), 1e-9))
    # Duplicates (a piece twice in a prompt) are summed on conversion, as the mean does.
    return sparse.csr_matrix((values, (rows, cols)), shape=(len(texts), len(model.pieces)))


def prompt_vectors(
    model: SubwordModel, vectors: FloatArray, texts: Sequence[str]
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """[len(texts), dim]: each prompt's weighted mean piece vector (training's features)."""
    return np.asarray(mean_matrix(model, texts) @ vectors.astype(np.float64))
