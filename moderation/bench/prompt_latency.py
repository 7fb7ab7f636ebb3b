"""Prompt moderation latency: one `check()` at a time, as a flow checks a prompt file.

    python -m moderation.bench.prompt_latency --calls 200 --out latency.json

Builds the shipped moderator once, warms it up, then times --calls single `check()` calls
for each case (a prompt with a negative prompt, as in a prompt file) with the learned
classifier on and off, and one `check()` of each prompt of the blind set heldout5. The
normalisation caches are emptied before every timed call: a flow checks each prompt once.
Prints median and 95th percentile milliseconds and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from moderation.evaluate import load_examples
from moderation.normalize import clear_caches
from moderation.policy import load_policy
from moderation.prompt_filter import PromptModerator

NEGATIVE = "blurry, low quality, watermark, text, extra fingers, deformed hands, jpeg artifacts"
CASES = {
    "short": "a red fox in fresh snow",
    "30 words": (
        "cinematic slow dolly shot of an old fisherman mending nets on a wooden pier at dawn, "
        "soft golden light, gulls circling overhead, mist over the harbour, shallow depth of "
        "field, 35mm film grain"
    ),
    "obfuscated": "a n-a-k-3-d w0man on the b3ach, c1nematic lighting, 4k, highly detailed",
    "80 words": " ".join(
        ["a quiet mountain village at dusk, lanterns glowing along a stone path, children"]
        + ["chasing fireflies near an old well, smoke rising from chimneys, a dog asleep by a"]
        + ["door, snow-capped peaks behind, warm window light, painterly style, slow pan left"]
        + ["then a gentle push in on the well, wind moving through tall grass, distant bells"]
        + ["ringing, soft focus background, rich colour grading, film grain, 24 fps, calm"]
        + ["mood, no people in the foreground, wide establishing shot first"]
    ),
}


def time_calls(moderator: PromptModerator, prompts: list[str]) -> list[float]:
    for prompt in prompts[:10]:
        moderator.check(prompt, NEGATIVE)
    times = []
    for prompt in prompts:
        clear_caches()
        started = time.perf_counter()
        moderator.check(prompt, NEGATIVE)
        times.append(1000 * (time.perf_counter() - started))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    policy = load_policy()
    moderators = {
        "rules + classifier": PromptModerator(policy),
        "rules only": PromptModerator(policy.rules_only()),
    }
    rows = []
    _, blind = load_examples(None)
    cases = {case: [prompt] * args.calls for case, prompt in CASES.items()}
    cases["heldout5, each once"] = [example.text for example in blind]
    print(f"{'case':<20} {'moderator':<20} {'words':>6} {'median ms':>10} {'p95 ms':>8}")
    for case, prompts in cases.items():
        for name, moderator in moderators.items():
            times = sorted(time_calls(moderator, prompts))
            row = {
                "case": case,
                "moderator": name,
                "words": statistics.median(len(p.split()) for p in prompts),
                "median_ms": statistics.median(times),
                "p95_ms": times[int(0.95 * (len(times) - 1))],
            }
            rows.append(row)
            print(f"{case:<20} {name:<20} {row['words']:>6} {row['median_ms']:>10.3f} "
                  f"{row['p95_ms']:>8.3f}")  # fmt: skip
    if args.out:
        machine = {"cpus": os.cpu_count(), "processor": platform.processor(), "calls": args.calls}
        args.out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
