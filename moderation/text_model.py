"""A learned prompt classifier: hashed word and character n-grams, one linear layer.

Term lists stop what their authors thought of; prompts written by someone else slip past
them (see docs/benchmarks.md: the rules alone stopped 65-79% of blind sets). This model
reads the same normalised text as the rules and scores it for each unsafe category. It is
trained by `vidflow moderation-train` on the labelled prompts in `moderation/data/`, and
shipped as a small `.npz` file, so nothing is downloaded. Inference is plain numpy.

Features of a prompt, after `normalize` (look-alikes, leetspeak and spacing undone):
- each word, and each pair of adjacent words;
- each run of 3 to 5 characters of the text with repeated letters collapsed, spaces
  included, so "nudekids" written as one word still shares pieces with "nude kids"; in
  text outside ASCII (Cyrillic, Han, Hangul, Devanagari...) runs of 2 as well;
- each Han character and Hangul syllable alone: one of them is often a word ("杀" kill,
  "裸" naked), and a text without spaces has no word features.
Each feature is hashed (CRC-32) into a fixed number of buckets; a prompt's vector is
binary and L2-normalised. The model is a multinomial logistic regression over "benign"
and the categories.

A second, tiny logistic regression (the combiner) weighs the model's probability of
"unsafe" and that of the multilingual subword model (subword_model.py, saved in the same
file) together with the policy's term rules (one hit flag per category), the profanity
classifier and whether the prompt hid a word (spelled it out, or disguised it with
leetspeak or mixed scripts: `normalize.disguises`); it is fitted on out-of-fold scores, so
that it learns how far each signal can be trusted on prompts the model did not read. Its
output is the probability the policy's `text_model.threshold` applies to.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from moderation.language import DEFAULT
from moderation.normalize import disguises, normalize, squeeze
from moderation.subword_model import SubwordModel

BUCKETS = 1 << 20
CHAR_SIZES = (3, 4, 5)
BENIGN = "benign"
MODEL_FORMAT = 5
# Prefix of the subword model's arrays inside the model file.
SUBWORD = "subword_"

FloatArray = np.ndarray[Any, np.dtype[np.float32]]


def feature_names(text: str) -> set[str]:
    """The n-grams of a prompt's normalised text (see the module docstring)."""
    norm = normalize(text)
    words = norm.split()
    names = {f"w {w}" for w in words}
    names.update(f"b {a} {b}" for a, b in pairwise(words))
    padded = f" {squeeze(norm)} "
    for size in _char_sizes(padded):
        names.update(f"c{padded[i : i + size]}" for i in range(len(padded) - size + 1))
    names.update(f"c{ch}" for ch in _IDEOGRAPHS.findall(padded))
    return names


# Han (CJK unified ideographs and extension A) and Hangul syllables: characters that carry
# a meaning alone, unlike a letter or a kana.
_IDEOGRAPHS = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def _char_sizes(padded: str) -> tuple[int, ...]:
    # Words of two characters are the rule in Chinese, Japanese and Korean ("裸体", "자살"):
    # text outside ASCII also gets its character pairs.
    return CHAR_SIZES if padded.isascii() else (2, *CHAR_SIZES)


# CRC-32 of each feature name's prefix: crc32(prefix + data) == crc32(data, crc32(prefix)).
_WORD_SEED, _BIGRAM_SEED, _CHAR_SEED = (zlib.crc32(p) for p in (b"w ", b"b ", b"c"))


def _crc_table() -> np.ndarray[Any, np.dtype[np.uint32]]:
    """zlib's CRC-32 lookup table (reflected polynomial 0xEDB88320)."""
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0xEDB88320), table >> 1)
    return table.astype(np.uint32)


_CRC_TABLE = _crc_table()
# Text length from which hashing in numpy is faster than one zlib call per n-gram (~100
# bytes on this CPU: 0.04 ms against 0.12 ms at 25 bytes, 0.17 against 0.27 at 200).
_NUMPY_FROM = 100


def _char_hashes(padded: bytes) -> np.ndarray[Any, np.dtype[np.uint32]]:
    """zlib.crc32(padded[i:i + size], _CHAR_SEED) for every i and size, all in numpy.

    Every n-gram of one size advances its CRC one byte per step together, so a prompt
    costs len(CHAR_SIZES) * 5 array operations instead of one Python call per n-gram.
    """
    if len(padded) < _NUMPY_FROM:  # a short prompt: fewer n-grams than numpy's fixed cost
        return np.array(
            [zlib.crc32(padded[i : i + size], _CHAR_SEED)
             for size in CHAR_SIZES for i in range(len(padded) - size + 1)],
            dtype=np.uint32,
        )  # fmt: skip
    data = np.frombuffer(padded, dtype=np.uint8)
    start = np.uint32(~_CHAR_SEED & 0xFFFFFFFF)  # zlib inverts the CRC before and after
    out = []
    for size in CHAR_SIZES:
        count = len(data) - size + 1  # > 0: data is at least _NUMPY_FROM bytes long
        crc = np.full(count, start, dtype=np.uint32)
        for k in range(size):
            crc = _CRC_TABLE[(crc ^ data[k : k + count]) & 0xFF] ^ (crc >> 8)
        out.append(~crc)
    return np.concatenate(out)


def feature_ids(text: str) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Sorted hashed bucket ids of a prompt's features: crc32(name) % BUCKETS per name.

    The same ids as hashing `feature_names`, computed from byte slices with the prefix's
    CRC as seed, the character n-grams in numpy (a third of the time of hashing names).
    """
    norm = normalize(text)  # words of letters and digits, single spaces
    words = norm.encode("utf-8").split()
    hashes = [zlib.crc32(w, _WORD_SEED) for w in words]
    hashes += [zlib.crc32(a + b" " + b, _BIGRAM_SEED) for a, b in pairwise(words)]
    padded = f" {squeeze(norm)} "
    if padded.isascii():
        chars = _char_hashes(padded.encode("ascii"))
    else:  # n-grams of characters, not bytes: slice the text, hash each slice's UTF-8
        chars = np.array(
            [zlib.crc32(padded[i : i + size].encode("utf-8"), _CHAR_SEED)
             for size in _char_sizes(padded) for i in range(len(padded) - size + 1)]
            + [zlib.crc32(ch.encode("utf-8"), _CHAR_SEED) for ch in _IDEOGRAPHS.findall(padded)],
            dtype=np.uint32,
        )  # fmt: skip
    every = np.concatenate([np.array(hashes, dtype=np.uint32), chars]).astype(np.int64)
    return np.unique(every % BUCKETS)


# The combiner's last columns, after profanity: `normalize.disguises`, in its order.
HIDDEN_WORDS = ("spelled out", "disguised")
# The combiner's columns after the rule hits: profanity, then HIDDEN_WORDS.
AFTER_HITS = 1 + len(HIDDEN_WORDS)


def hidden_words(texts: Iterable[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """[prompts, HIDDEN_WORDS]: 1 where a prompt spelled a word out, and where it disguised
    one."""
    rows = [disguises(text) for text in texts]
    return np.array(rows, dtype=np.float64).reshape(-1, len(HIDDEN_WORDS))


def evidence_matrix(
    unsafe: np.ndarray[Any, np.dtype[Any]],
    hits: np.ndarray[Any, np.dtype[Any]],
    profanity: np.ndarray[Any, np.dtype[Any]],
    hidden: np.ndarray[Any, np.dtype[Any]],
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The combiner's input: each model's log-odds of "unsafe", rule hits, profanity, and
    `hidden_words`.

    `unsafe` is [prompts] (the n-gram model) or [prompts, models] (with the subword model).
    """
    p = np.clip(np.asarray(unsafe, dtype=np.float64), 1e-6, 1 - 1e-6)
    p = p.reshape(len(p), -1)
    columns = [np.log(p / (1 - p)), np.asarray(hits, dtype=np.float64).reshape(len(p), -1),
               np.asarray(profanity, dtype=np.float64).reshape(len(p), 1),
               np.asarray(hidden, dtype=np.float64).reshape(len(p), len(HIDDEN_WORDS))]  # fmt: skip
    return np.column_stack(columns)


def weigh(
    x: np.ndarray[Any, np.dtype[np.float64]],
    weights: np.ndarray[Any, np.dtype[np.float64]],
    bias: float,
    other: np.ndarray[Any, np.dtype[np.float64]] | None = None,
    other_bias: float = 0.0,
    told: Sequence[str] | np.ndarray[Any, np.dtype[Any]] | None = None,
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """P(unsafe) of each row of `evidence_matrix` from a combiner; with a second one
    (`other`) and each row's language (`told`), rows told another language than English are
    weighed by the second."""
    z = x @ weights + bias
    if other is not None and told is not None:
        rest = np.asarray(told) != DEFAULT
        z[rest] = x[rest] @ other + other_bias
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


@dataclass(frozen=True)
class TextModel:
    """Weights for the buckets seen in training; any other bucket weighs nothing."""

    classes: tuple[str, ...]
    buckets: np.ndarray[Any, np.dtype[np.int64]]  # sorted bucket ids with weights
    weights: FloatArray  # [len(buckets), len(classes)]
    bias: FloatArray  # [len(classes)]
    # The combiner: weights over [model log-odds, a hit per unsafe class, profanity, spelled
    # out, disguised]. The default passes the model's probability through and gives the
    # rest no say.
    combiner: np.ndarray[Any, np.dtype[np.float64]] | None = None
    combiner_bias: float = 0.0
    # A second combiner, fitted on the prompts told to be in one of `combiner_languages`
    # (language.py) alone, for those; prompts told English keep the first. None: one for all.
    combiner_other: np.ndarray[Any, np.dtype[np.float64]] | None = None
    combiner_other_bias: float = 0.0
    combiner_languages: tuple[str, ...] = ()
    # What it was trained on: {file name: SHA-256}, and the settings, as JSON.
    provenance: str = "{}"
    source: str = ""
    # The multilingual signal (subword_model.py), weighed by the combiner next to this one.
    subword: SubwordModel | None = None

    @property
    def signals(self) -> int:
        """How many model log-odds columns the combiner reads: 1, or 2 with `subword`."""
        return 1 if self.subword is None else 2

    @property
    def unsafe_classes(self) -> tuple[str, ...]:
        """The classes other than benign, in order: the combiner's rule-hit columns."""
        return tuple(c for c in self.classes if c != BENIGN)

    def combiner_weights(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        if self.combiner is not None:
            return self.combiner
        passed = np.full(self.signals, 1.0 / self.signals)
        return np.concatenate([passed, np.zeros(len(self.unsafe_classes) + AFTER_HITS)])

    def combine(
        self,
        unsafe: np.ndarray[Any, np.dtype[Any]],
        hits: np.ndarray[Any, np.dtype[Any]],
        profanity: np.ndarray[Any, np.dtype[Any]],
        hidden: np.ndarray[Any, np.dtype[Any]],
        told: Sequence[str] | None = None,
    ) -> np.ndarray[Any, np.dtype[np.float64]]:
        """P(unsafe) from all signals; `hits` has a column per `unsafe_classes`, `unsafe`
        a column per model (`signals`), `hidden` is `hidden_words` of the prompts, `told`
        each prompt's language (`language.languages`; None: English for all)."""
        return weigh(evidence_matrix(unsafe, hits, profanity, hidden), self.combiner_weights(),
                     self.combiner_bias, self.combiner_other, self.combiner_other_bias,
                     told)  # fmt: skip

    @classmethod
    def load(cls, path: Path | None = None) -> TextModel:
        """The model at `path`, or the shipped one."""
        if path is None:
            ref = resources.files("moderation").joinpath("data/text_model.npz")
            with resources.as_file(ref) as shipped:
                return cls._read(shipped, "moderation/data/text_model.npz")
        return cls._read(Path(path), str(path))

    @classmethod
    def _read(cls, path: Path, name: str) -> TextModel:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) != MODEL_FORMAT:
                raise ValueError(f"{name}: model format {int(data['format'])}, "
                                 f"this vidflow reads {MODEL_FORMAT}; retrain it")  # fmt: skip
            split = "combiner_other" in data
            return cls(
                classes=tuple(str(c) for c in data["classes"]),
                buckets=data["buckets"].astype(np.int64),
                weights=data["weights"].astype(np.float32),
                bias=data["bias"].astype(np.float32),
                combiner=data["combiner"].astype(np.float64),
                combiner_bias=float(data["combiner_bias"]),
                combiner_other=(data["combiner_other"].astype(np.float64) if split else None),
                combiner_other_bias=float(data["combiner_other_bias"]) if split else 0.0,
                combiner_languages=(
                    tuple(str(c) for c in data["combiner_languages"]) if split else ()
                ),
                provenance=str(data["provenance"]),
                source=name,
                subword=(
                    SubwordModel.from_arrays(data, SUBWORD) if f"{SUBWORD}classes" in data else None
                ),
            )

    def save(self, path: Path) -> None:
        """Write the model; a crash mid-write leaves the previous file as it was."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        subword = self.subword.arrays(SUBWORD) if self.subword is not None else {}
        other = (
            {"combiner_other": self.combiner_other,
             "combiner_other_bias": np.float64(self.combiner_other_bias),
             "combiner_languages": np.array(self.combiner_languages)}
            if self.combiner_other is not None else {}
        )  # fmt: skip
        with partial.open("wb") as handle:
            np.savez_compressed(
                handle,
                format=np.int64(MODEL_FORMAT),
                classes=np.array(self.classes),
                buckets=self.buckets.astype(np.int32),
                weights=self.weights.astype(np.float16),
                bias=self.bias.astype(np.float32),
                combiner=self.combiner_weights(),
                combiner_bias=np.float64(self.combiner_bias),
                provenance=np.array(self.provenance),
                **other,  # type: ignore[arg-type]  # numpy's stub types **kwds as bool
                **subword,  # type: ignore[arg-type]
            )
        partial.replace(path)

    def rows(self, ids: np.ndarray[Any, np.dtype[np.int64]]) -> np.ndarray[Any, np.dtype[Any]]:
        """Rows of `weights` for the bucket ids that have one."""
        at = np.searchsorted(self.buckets, ids)
        at = np.minimum(at, len(self.buckets) - 1)
        return at[self.buckets[at] == ids]

    def predict_proba(self, texts: Iterable[str]) -> FloatArray:
        """[len(texts), len(classes)] class probabilities."""
        logits = []
        for text in texts:
            ids = feature_ids(text)
            rows = self.rows(ids)
            scale = 1.0 / np.sqrt(max(len(ids), 1))  # as in training: every feature counts
            logits.append(self.weights[rows].sum(axis=0) * scale + self.bias)
        if not logits:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        z = np.stack(logits)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return np.asarray(z / z.sum(axis=1, keepdims=True), dtype=np.float32)
