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
from dataclasses import asdict, astuple, dataclass
from pathlib import Path

from moderation.evaluate import Example, interval, load_examples
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
class Tally:
    """Prompts and prompts stopped, by label."""

    unsafe: int = 0
    unsafe_stopped: int = 0
    benign: int = 0
    benign_stopped: int = 0

    @classmethod
    def of(cls, rows: Iterable[tuple[Example, bool]]) -> Tally:
        tally = cls()
        for example, stopped in rows:
            unsafe = example.label == "unsafe"
            tally += cls(unsafe, unsafe and stopped, not unsafe, not unsafe and stopped)
        return tally

    def __add__(self, other: Tally) -> Tally:
        return Tally(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    def as_json(self) -> dict[str, object]:
        return {**asdict(self),
                "recall_interval": interval(self.unsafe_stopped, self.unsafe),
                "false_positive_interval": interval(self.benign_stopped, self.benign)}  # fmt: skip

    def cells(self) -> str:
        shares = ((self.unsafe_stopped, self.unsafe), (self.benign_stopped, self.benign))
        return "".join(f"{f'{h}/{n} ({100 * h / max(n, 1):.1f}%)':>18}" for h, n in shares)


@dataclass(frozen=True)
class Row:
    prompts: int
    near: int
    every: Tally
    novel: Tally

    def __add__(self, other: Row) -> Row:
        return Row(self.prompts + other.prompts, self.near + other.near,
                   self.every + other.every, self.novel + other.novel)  # fmt: skip

    def line(self, name: str) -> str:
        return f"{name:34} {self.near:>5}/{self.prompts:<5}{self.every.cells()}{self.novel.cells()}"

    def as_json(self) -> dict[str, object]:
        return {"prompts": self.prompts, "near": self.near, "all": self.every.as_json(),
                "novel": self.novel.as_json()}  # fmt: skip


def measure(
    sets: list[tuple[str, list[Example]]], corpus: Corpus, moderator: PromptModerator
) -> dict[str, Row]:
    report = {}
    for name, examples in sets:
        near = [corpus.nearest(e.text) >= NEAR for e in examples]
        verdicts = moderator.check_many([(e.text, "") for e in examples])
        rows = [(e, v.action != "allow") for e, v in zip(examples, verdicts, strict=True)]
        novel = [row for row, n in zip(rows, near, strict=True) if not n]
        report[name] = Row(len(examples), sum(near), Tally.of(rows), Tally.of(novel))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="labelled JSONL sets to measure")
    parser.add_argument("--exclude", nargs="*", default=[],
                        help="training sets (file-name patterns) left out of the corpus")  # fmt: skip
    parser.add_argument("--policy", type=Path, help="policy YAML (default: the shipped one)")
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    args = parser.parse_args(argv)
    measured = {path.resolve() for path in args.files}
    corpus_paths = [
        path for path in training_paths()
        if path.resolve() not in measured
        and not any(fnmatch.fnmatch(path.stem, pattern) for pattern in args.exclude)
    ]  # fmt: skip
    texts = [e.text for path in corpus_paths for e in load_examples(path)[1]]
    moderator = PromptModerator(load_policy(args.policy) if args.policy else load_policy())
    sets = [(path.name, load_examples(path)[1]) for path in args.files]
    report = measure(sets, Corpus(texts), moderator)
    print(f"corpus: {len(texts)} training prompts from {len(corpus_paths)} sets; near: >= {NEAR}")
    print(f"{'set':34} {'near':>11}{'unsafe stopped':>18}{'benign stopped':>18}"
          f"{'novel: unsafe':>18}{'novel: benign':>18}")  # fmt: skip
    for name, row in report.items():
        print(row.line(name))
    total = sum(report.values(), Row(0, 0, Tally(), Tally()))
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
