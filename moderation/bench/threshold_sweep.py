"""What the text model's threshold trades: unsafe and benign prompts stopped at each one.

    python -m moderation.bench.threshold_sweep SETS --thresholds 0.68 0.6 0.55 0.5 --out T.json
    python -m moderation.bench.threshold_sweep SETS --model OLD.npz --policy P
    python -m moderation.bench.threshold_sweep SETS --other-languages --thresholds 0.6 0.45

Reads every set once per threshold with the policy (default: the shipped one) whose
`text_model.threshold` (with `--other-languages`, the 14 languages' `language_thresholds`
instead), and with `--model` its `text_model.path`, alone are changed; the
rules and everything else stay as they are. Prints, per threshold, the prompts stopped of
each set and of all of them, and writes JSON. Choose on sets the model never read.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from moderation.evaluate import Example, Rates, load_examples, rates
from moderation.policy import Policy, load_policy
from moderation.prompt_filter import PromptModerator
from moderation.train import SPENT_LANGUAGE_SETS


def sweep(
    sets: list[tuple[str, list[Example]]],
    policy: Policy,
    thresholds: list[float],
    languages: Sequence[str] = (),
) -> dict[float, dict[str, Rates]]:
    """Per threshold, what is stopped of each set and of all of them ("all").

    With `languages`, the threshold swept is theirs (`language_thresholds`), and
    `text_model.threshold` stays as it is.
    """
    out = {}
    everything = [e for _, examples in sets for e in examples]
    for threshold in thresholds:
        change: dict[str, Any] = (
            {"language_thresholds": dict.fromkeys(languages, threshold)}
            if languages
            else {"threshold": threshold}
        )
        text_model = policy.text_model.model_copy(update=change)
        moderator = PromptModerator(policy.model_copy(update={"text_model": text_model}))
        verdicts = moderator.check_many([(e.text, "") for e in everything])
        stopped = [(e, v.action != "allow") for e, v in zip(everything, verdicts, strict=True)]
        row, start = {}, 0
        for name, examples in sets:
            row[name] = rates(stopped[start : start + len(examples)])
            start += len(examples)
        row["all"] = rates(stopped)
        out[threshold] = row
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="labelled JSONL sets")
    parser.add_argument("--thresholds", nargs="+", type=float,
                        default=[0.68, 0.6, 0.55, 0.5, 0.45, 0.4])  # fmt: skip
    parser.add_argument("--policy", type=Path, help="policy YAML (default: the shipped one)")
    parser.add_argument("--model", type=Path, help="text model .npz (default: the policy's)")
    parser.add_argument(
        "--other-languages",
        action="store_true",
        help="sweep the threshold of the 14 languages of issue 15 (language_thresholds); "
        "English stays at text_model.threshold",
    )
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    args = parser.parse_args(argv)
    policy = load_policy(args.policy) if args.policy else load_policy()
    if args.model:
        text_model = policy.text_model.model_copy(update={"path": args.model})
        policy = policy.model_copy(update={"text_model": text_model})
    sets = [(path.name, load_examples(path)[1]) for path in args.files]
    report = sweep(sets, policy, args.thresholds,
                   SPENT_LANGUAGE_SETS if args.other_languages else ())  # fmt: skip
    for threshold, row in report.items():
        cells = [f"{name} {r.unsafe_stopped}/{r.unsafe} {r.benign_stopped}/{r.benign}"
                 for name, r in row.items() if name == "all" or len(sets) <= 4]  # fmt: skip
        print(f"{threshold:<5} " + " | ".join(cells))
    if args.out:
        out = {"policy": str(args.policy or "shipped"), "model": str(args.model or "policy's"),
               "swept": "other languages" if args.other_languages else "threshold",
               "files": [str(p) for p in args.files],
               "thresholds": {str(t): {name: r.model_dump() for name, r in row.items()}
                              for t, row in report.items()}}  # fmt: skip
        args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
