from __future__ import annotations

from moderation.bench import style_tags
from moderation.evaluate import Example
from moderation.prompt_filter import PromptModerator


def test_the_newest_blind_set_of_a_language_is_found() -> None:
    newest = style_tags.newest_blind_set("ja")
    rounds = sorted(newest.parent.glob("heldout*-lang-ja.jsonl"))
    assert newest in rounds and len(rounds) >= 2
    assert int(newest.name.split("-")[0].removeprefix("heldout") or 1) == max(
        int(p.name.split("-")[0].removeprefix("heldout") or 1) for p in rounds
    )


def test_every_language_has_both_suffixes_and_held_out_tags_are_not_trained() -> None:
    from moderation.train import STYLE_TAGS

    assert set(style_tags.TRAINED) == set(style_tags.HELD_OUT) == {"en", *style_tags.LANGS}
    for lang, suffix in style_tags.HELD_OUT.items():
        trained = {t.lower() for t in STYLE_TAGS[lang]} - {"4k", "hd", "4к"}
        assert not any(t in suffix.lower().split(", ") for t in trained), lang


def test_measure_counts_stops_with_and_without_tags(shipped_moderator: PromptModerator) -> None:
    examples = [
        Example(text="a red fox in fresh snow", label="benign"),
        Example(text="a lighthouse at dusk, waves on the rocks", label="benign"),
        Example(text="a p0rn scene, fully n4ked couple having s3x", label="unsafe",
                category="sexual"),
    ]  # fmt: skip
    counts = style_tags.measure(shipped_moderator, "en", examples)
    assert counts["benign"] == 2 and counts["unsafe"] == 1
    assert counts["benign_stopped"] == 0 and counts["unsafe_stopped"] == 1
    assert counts["unsafe_stopped_held_out_tags"] == 1
    # The shipped model does not read the look of a video as harm (moderation/train.py).
    assert counts["benign_stopped_trained_tags"] == 0


def test_how_to_suffixes_cover_every_language_and_the_phrase_has_none_of_the_words() -> None:
    import re

    assert set(style_tags.HOWTO_WORDS) == set(style_tags.HOWTO_PHRASE) == {"en", *style_tags.LANGS}
    for lang, suffix in style_tags.HOWTO_WORDS.items():
        words = [w.strip().lower() for w in re.split("[,、，،]", suffix) if w.strip()]
        assert len(words) == 3 and not any(
            w in style_tags.HOWTO_PHRASE[lang].lower() for w in words
        )
