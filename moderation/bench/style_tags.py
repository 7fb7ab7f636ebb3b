"""Style tags on benign prompts: does "realistic, close-up, HD" alone get a prompt stopped?

    python -m moderation.bench.style_tags --out style-tags.json [--policy POLICY]

Creators end prompts with words about the look ("realistic, close-up, 4K"). This takes the
benign prompts of blind sets (English heldout5-8, and each language's newest
`heldout*-lang-XX`) and checks each one as written and with a suffix of style tags of its
language appended: once with tags the training copies carry (`STYLE_TAGS` in
moderation/train.py) and once with tags they never carry (`HELD_OUT` here), which says
whether the lesson carries to new wording. A moderator that reads style as harm stops
many more with the suffix. Also checks the unsafe prompts with the held-out suffix, to show
whether recall leans on such tags. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from moderation.evaluate import Example, load_examples
from moderation.policy import load_policy
from moderation.prompt_filter import PromptModerator

DATA = Path(__file__).parents[1] / "data"
# A suffix of tags in STYLE_TAGS (trained) and one of tags that are not (held out).
TRAINED = {
    "en": ", realistic, close-up, HD", "ru": ", реалистично, крупный план, HD",
    "fr": ", réaliste, gros plan, HD", "de": ", realistisch, Nahaufnahme, HD",
    "es": ", realista, primer plano, HD", "it": ", realistico, primo piano, HD",
    "pl": ", realistycznie, zbliżenie, HD", "tr": ", gerçekçi, yakın çekim, HD",
    "pt": ", realista, close, HD", "nl": ", realistisch, close-up, HD",
    "ar": "، واقعي، لقطة قريبة، HD", "hi": ", यथार्थवादी, क्लोज़अप, HD",
    "ja": "、リアル、クローズアップ、4K", "zh": "，写实，特写，4K", "ko": ", 실사, 클로즈업, 4K",
}  # fmt: skip
HELD_OUT = {
    "en": ", hyperrealistic, 8k, macro lens, crisp textures",
    "ru": ", в мельчайших подробностях, 8к", "fr": ", plan serré, hyperréaliste, 8K",
    "de": ", Großaufnahme, hyperrealistisch, 8K", "es": ", plano cerrado, hiperrealista, 8K",
    "it": ", in alta definizione, iperrealistico, 8K", "pl": ", w wysokiej rozdzielczości, 8K",
    "tr": ", yüksek çözünürlük, 8K", "pt": ", em alta definição, 8K",
    "nl": ", in hoge resolutie, hyperrealistisch, 8K", "ar": "، بدقة عالية جدا، 8K",
    "hi": ", हाई डेफिनिशन, 8K", "ja": "、高解像度、8K", "zh": "，高分辨率，8K", "ko": ", 초고해상도, 8K",
}  # fmt: skip
LANGS = ("ar", "de", "es", "fr", "hi", "it", "ja", "ko", "nl", "pl", "pt", "ru", "tr", "zh")


def newest_blind_set(lang: str) -> Path:
    rounds = sorted(DATA.glob(f"heldout*-lang-{lang}.jsonl"))
    return max(rounds, key=lambda p: int(p.name.split("-")[0][7:] or 1))


def stopped(moderator: PromptModerator, texts: list[str]) -> int:
    return sum(v.action != "allow" for v in moderator.check_many([(t, "") for t in texts]))


def measure(moderator: PromptModerator, lang: str, examples: list[Example]) -> dict[str, int]:
    benign = [e.text for e in examples if e.label == "benign"]
    unsafe = [e.text for e in examples if e.label == "unsafe"]
    return {
        "benign": len(benign),
        "benign_stopped": stopped(moderator, benign),
        "benign_stopped_trained_tags": stopped(moderator, [t + TRAINED[lang] for t in benign]),
        "benign_stopped_held_out_tags": stopped(moderator, [t + HELD_OUT[lang] for t in benign]),
        "unsafe": len(unsafe),
        "unsafe_stopped": stopped(moderator, unsafe),
        "unsafe_stopped_held_out_tags": stopped(moderator, [t + HELD_OUT[lang] for t in unsafe]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--policy", type=Path, help="policy YAML (default: the shipped one)")
    args = parser.parse_args(argv)
    moderator = PromptModerator(load_policy(args.policy))
    sets: dict[str, tuple[str, list[Example]]] = {}
    english = [load_examples(DATA / f"heldout{n}.jsonl") for n in (5, 6, 7, 8)]
    sets["en"] = ("heldout5-8", [e for _, held in english for e in held])
    for lang in LANGS:
        name, held = load_examples(newest_blind_set(lang))
        sets[lang] = (Path(name).stem, held)
    counts_by_lang = {lang: (name, measure(moderator, lang, held))
                      for lang, (name, held) in sets.items()}  # fmt: skip
    rows = {lang: {"set": name, **measured} for lang, (name, measured) in counts_by_lang.items()}
    print(f"{'lang':5} {'set':18} {'benign':>6} {'as written':>10} {'+trained':>9} {'+held out':>9}"
          f" {'unsafe':>6} {'as written':>10} {'+held out':>9}")  # fmt: skip
    for lang, r in rows.items():
        print(f"{lang:5} {r['set']:18} {r['benign']:6} {r['benign_stopped']:10} "
              f"{r['benign_stopped_trained_tags']:9} {r['benign_stopped_held_out_tags']:9} "
              f"{r['unsafe']:6} {r['unsafe_stopped']:10} {r['unsafe_stopped_held_out_tags']:9}")  # fmt: skip
    counts = [measured for _, measured in counts_by_lang.values()]
    totals = {key: sum(c[key] for c in counts) for key in counts[0]}
    print(f"{'all':24} {totals['benign']:6} {totals['benign_stopped']:10} "
          f"{totals['benign_stopped_trained_tags']:9} {totals['benign_stopped_held_out_tags']:9} "
          f"{totals['unsafe']:6} {totals['unsafe_stopped']:10} {totals['unsafe_stopped_held_out_tags']:9}")  # fmt: skip
    if args.out:
        args.out.write_text(
            json.dumps({"rows": rows, "totals": totals}, indent=2, ensure_ascii=False)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
