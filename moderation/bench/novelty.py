"""How much of a blind set the training sets already hold, and what is stopped of the rest.

    python -m moderation.bench.novelty moderation/data/heldout17-lang-*.jsonl --out N.json
    python -m moderation.bench.novelty SETS --exclude 'heldout16-lang-*' --policy P

Every set here is written by authors who never saw the others' prompts, but they are alike
enough that a blind prompt can come out close to one already trained on, and a model
stops what it was trained on. A prompt counts as near when the Jaccard similarity of the
character 4-grams of its normalised text and of some training prompt's reaches 0.6, the
measure that drops a new training prompt near a blind one. For each set this prints how
many prompts are near, and the shares of unsafe and benign prompts the moderator stops
over all of them and over the novel ones alone. The corpus is the training sets of
`moderation/train.py` without the sets measured (once spent, a set is among them) and
without `--exclude` (sets the measured model was not trained on). Writes JSON.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from moderation.evaluate import Example, Rates, load_examples, rates
from moderation.normalize import normalize
from moderation.policy import load_policy
from moderation.prompt_filter import PromptModerator
from moderation.train import training_paths

NEAR = 0.6


def grams(text: str) -> frozenset[str]:
    padded = f" {normalize(text)} "
    return frozenset(padded[i : i + 4] for i in range(len(padded) - 3))


class Corpus:
    """The 4-grams of each training prompt, with an index from a 4-gram to its prompts."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.grams = [grams(text) for text in texts]
        self.index: dict[str, list[int]] = defaultdict(list)
        for number, found in enumerate(self.grams):
            for gram in found:
                self.index[gram].append(number)

    def nearest(self, text: str) -> float:
        """The highest Jaccard similarity of `text` to any prompt of the corpus."""
        mine = grams(text)
        shared = Counter(n for gram in mine for n in self.index.get(gram, ()))
        return max(
            (count / (len(mine) + len(self.grams[n]) - count) for n, count in shared.items()),
            default=0.0,
        )


@dataclass(frozen=True)
class Row:
    """A set's prompts near a training prompt, and what is stopped of all and of the rest."""

    near: int
    every: Rates
    novel: Rates

    @classmethod
    def of(cls, near: list[bool], rows: list[tuple[Example, bool]]) -> Row:
        novel = [row for row, n in zip(rows, near, strict=True) if not n]
        return cls(sum(near), rates(rows), rates(novel))

    def line(self, name: str) -> str:
        prompts = self.every.unsafe + self.every.benign
        return f"{name:34} {self.near:>5}/{prompts:<5}{_cells(self.every)}{_cells(self.novel)}"

    def as_json(self) -> dict[str, object]:
        return {"prompts": self.every.unsafe + self.every.benign, "near": self.near,
                "all": self.every.model_dump(), "novel": self.novel.model_dump()}  # fmt: skip


def _cells(slice_: Rates) -> str:
    shares = ((slice_.unsafe_stopped, slice_.unsafe), (slice_.benign_stopped, slice_.benign))
    return "".join(f"{f'{h}/{n} ({100 * h / max(n, 1):.1f}%)':>18}" for h, n in shares)


def measure(
    sets: list[tuple[str, list[Example]]], corpus: Corpus, moderator: PromptModerator
) -> dict[str, tuple[list[bool], list[tuple[Example, bool]]]]:
    """Per set, whether each prompt is near a training prompt, and each (prompt, stopped)."""
    measured = {}
    for name, examples in sets:
        near = [corpus.nearest(e.text) >= NEAR for e in examples]
        verdicts = moderator.check_many([(e.text, "") for e in examples])
        measured[name] = (
            near,
            [(e, v.action != "allow") for e, v in zip(examples, verdicts, strict=True)],
        )
    return measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="labelled JSONL sets to measure")
    parser.add_argument("--exclude", nargs="*", default=[],
                        help="training sets (file-name patterns) left out of the corpus")  # fmt: skip
    parser.add_argument("--policy", type=Path, help="policy YAML (default: the shipped one)")
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    args = parser.parse_args(argv)
    sets_measured = {path.resolve() for path in args.files}
    corpus_paths = [
        path for path in training_paths()
        if path.resolve() not in sets_measured
        and not any(fnmatch.fnmatch(path.stem, pattern) for pattern in args.exclude)
    ]  # fmt: skip
    texts = [e.text for path in corpus_paths for e in load_examples(path)[1]]
    moderator = PromptModerator(load_policy(args.policy) if args.policy else load_policy())
    sets = [(path.name, load_examples(path)[1]) for path in args.files]
    measured = measure(sets, Corpus(texts), moderator)
    report = {name: Row.of(near, rows) for name, (near, rows) in measured.items()}
    print(f"corpus: {len(texts)} training prompts from {len(corpus_paths)} sets; near: >= {NEAR}")
    print(f"{'set':34} {'near':>11}{'unsafe stopped':>18}{'benign stopped':>18}"
          f"{'novel: unsafe':>18}{'novel: benign':>18}")  # fmt: skip
    for name, row in report.items():
        print(row.line(name))
    total = Row.of([n for near, _ in measured.values() for n in near],
                   [row for _, rows in measured.values() for row in rows])  # fmt: skip
    if len(report) > 1:
        print(total.line("all sets"))
    if args.out:
        out = {"corpus_sets": [p.stem for p in corpus_paths], "corpus_prompts": len(texts),
               "near": NEAR, "policy": str(args.policy or "shipped"),
               "sets": {name: row.as_json() for name, row in report.items()},
               "total": total.as_json()}  # fmt: skip
        args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
