"""Which language the moderator tells each prompt to be in, by the language it was written in.

    python -m moderation.bench.language_told SETS --out L.json

A prompt told to be in a language is judged at that language's threshold (the policy's
`text_model.language_thresholds`; English and any language without one at
`text_model.threshold`): this counts, per written language (`lang`, English where absent),
how many prompts are told to be in it, in English, and in each other language. The
language is told from the normalised text among the policy's languages and English, as
`PromptModerator` does.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from moderation.evaluate import Example, load_examples
from moderation.language import DEFAULT, languages
from moderation.normalize import normalize
from moderation.policy import load_policy


def told(examples: list[Example], among: list[str]) -> dict[str, Counter[str]]:
    """Per written language, how many prompts are told to be in each language."""
    codes = languages((normalize(e.text) for e in examples), among)
    out: dict[str, Counter[str]] = {}
    for example, code in zip(examples, codes, strict=True):
        out.setdefault(example.lang or DEFAULT, Counter())[code] += 1
    return dict(sorted(out.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="labelled sets (JSON Lines)")
    parser.add_argument("--policy", type=Path, help="policy YAML (default: the shipped one)")
    parser.add_argument("--out", type=Path, help="write the counts as JSON here")
    args = parser.parse_args(argv)
    policy = load_policy(args.policy) if args.policy else load_policy()
    among = sorted(policy.text_model.language_thresholds)
    if not among:
        parser.error("the policy gives no language a threshold of its own: all are English")
    examples = [e for path in args.files for e in load_examples(path)[1]]
    counts = told(examples, among)
    print(f"{'written in':12}{'prompts':>9}{'as written':>12}{'English':>9}  other (most)")
    for written, counter in counts.items():
        other = [(c, n) for c, n in counter.most_common() if c not in (written, DEFAULT)]
        print(f"{written:12}{sum(counter.values()):>9}{counter[written]:>12}"
              f"{counter[DEFAULT]:>9}  " + ", ".join(f"{c} {n}" for c, n in other[:4]))  # fmt: skip
    if args.out:
        out = {"files": [str(p) for p in args.files], "among": among, "told": counts}
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
