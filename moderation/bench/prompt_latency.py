"""Prompt moderation latency: one `check()` at a time, as a flow checks a prompt file.

    python -m moderation.bench.prompt_latency --calls 200 --out latency.json

Builds the shipped moderator once, warms it up, then times --calls single `check()` calls
for each case (a prompt with a negative prompt, as in a prompt file; English up to 120
words, a 120-word Russian prompt and a 200-character Chinese one, which the multilingual
subword model reads) with the learned classifiers on, on without telling each prompt's
language (one threshold for all), and off, and one `check()` of each prompt of the blind
set heldout5. The
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
    "120 words": " ".join(
        ["a quiet mountain village at dusk, lanterns glowing along a stone path, children"]
        + ["chasing fireflies near an old well, smoke rising from chimneys, a dog asleep by a"]
        + ["door, snow-capped peaks behind, warm window light, painterly style, slow pan left"]
        + ["then a gentle push in on the well, wind moving through tall grass, distant bells"]
        + ["ringing, soft focus background, rich colour grading, film grain, 24 fps, calm"]
        + ["mood, no people in the foreground, wide establishing shot first, then a close up"]
        + ["of an old baker closing the shutters of his shop, flour on his apron, a cat on"]
        + ["the windowsill watching the lanterns, the last bus leaving the square, its red"]
        + ["tail lights fading into the valley, stars above ridge"]
    ),
    "120 words, Russian": " ".join(
        ["тихая горная деревня в сумерках, фонари светятся вдоль каменной дорожки, дети"]
        + ["ловят светлячков у старого колодца, дым поднимается из труб, собака спит у"]
        + ["двери, заснеженные вершины позади, тёплый свет в окнах, живописный стиль,"]
        + ["медленная панорама влево, затем плавный наезд на колодец, ветер колышет"]
        + ["высокую траву, вдали звонят колокола, мягкий фон, богатая цветокоррекция,"]
        + ["зерно плёнки, спокойное настроение, сначала общий план, потом крупный план"]
        + ["старого пекаря, который закрывает ставни своей лавки, мука на фартуке, кошка"]
        + ["на подоконнике смотрит на фонари, последний автобус уходит с площади, его"]
        + ["красные огни исчезают в долине, звёзды одна за другой появляются над хребтом,"]
        + ["тишина, только шелест листвы и далёкий лай собак в соседней деревне, где"]
        + ["в окнах ещё горит свет и старушка поливает цветы на крыльце дома"]
    ),
    "Chinese, 200 characters": (
        "黄昏时分宁静的山村，石板路两旁的灯笼发出温暖的光，孩子们在古井旁追逐萤火虫，"
        "烟囱里升起袅袅炊烟，一只狗在门口睡觉，身后是白雪覆盖的山峰，窗户透出温暖的灯光，"
        "绘画风格，镜头缓慢向左平移，然后轻轻推向古井，微风吹过高高的草丛，远处传来钟声，"
        "背景柔和，色彩丰富，胶片颗粒感，气氛平静，先是远景，然后是老面包师关上店铺百叶窗的特写，"
        "围裙上沾着面粉，一只猫在窗台上望着灯笼，最后一班公交车驶离广场，红色尾灯消失在山谷中，"
        "星星一颗接一颗地出现在山脊上方"
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
    # The shipped policy; the same without per-language thresholds (no language told); and
    # without the learned classifiers.
    one_threshold = policy.model_copy(deep=True)
    one_threshold.text_model.language_thresholds = {}
    moderators = {
        "rules + classifiers": PromptModerator(policy),
        "one threshold for all": PromptModerator(one_threshold),
        "rules only": PromptModerator(policy.rules_only()),
    }
    rows = []
    _, blind = load_examples(None)
    cases = {case: [prompt] * args.calls for case, prompt in CASES.items()}
    cases["heldout5, each once"] = [example.text for example in blind]
    print(f"{'case':<24} {'moderator':<22} {'words':>6} {'median ms':>10} {'p95 ms':>8}")
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
            print(f"{case:<24} {name:<22} {row['words']:>6} {row['median_ms']:>10.3f} "
                  f"{row['p95_ms']:>8.3f}")  # fmt: skip
    if args.out:
        machine = {"cpus": os.cpu_count(), "processor": platform.processor(), "calls": args.calls}
        args.out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
