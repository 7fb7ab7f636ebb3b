from __future__ import annotations

from moderation.language import languages, margins
from moderation.normalize import normalize


def test_each_prompt_is_told_its_language_among_those_named() -> None:
    prompts = ["a woman walking her dog on the beach at sunset",
               "una mujer paseando a su perro por la playa al atardecer",
               "eine Frau geht mit ihrem Hund am Strand spazieren",
               "женщина гуляет с собакой по пляжу на закате",
               "夕阳下一个女人在海滩上遛狗", "夕暮れの浜辺で犬を散歩させる女性",
               "해질녘 해변에서 개를 산책시키는 여자", "امرأة تمشي مع كلبها على الشاطئ",
               "सूर्यास्त के समय समुद्र तट पर कुत्ते को टहलाती महिला", ""]  # fmt: skip
    among = ["es", "de", "ru", "zh", "ja", "ko", "ar", "hi"]
    assert languages(prompts, among) == ["en", *among, "en"]  # an empty text: English
    # Only English and the languages named are told: Spanish is not among these.
    assert languages(prompts[1:2], ["de"]) in (["en"], ["de"])


def test_a_disguised_english_word_reads_as_english_once_normalised() -> None:
    # Cyrillic а, е, о and р in Latin words: the moderator tells the language from the
    # normalised text, where they are Latin letters again.
    assert languages([normalize("nаkеd соuрlе on a bed")], ["ru"]) == ["en"]


def test_margins_say_how_far_over_english_a_language_was_told() -> None:
    among = ["de", "pl"]
    texts = ["two men", "ein Hund läuft über die Wiese und bellt den Briefträger an",
             "a dog chasing the postman across a meadow", ""]  # fmt: skip
    told = margins(texts, among)
    assert [lang for lang, _ in told] == languages(texts, among) == ["pl", "de", "en", "en"]
    (_, short), (_, sentence), (_, english), (_, empty) = told
    # Two words are told Polish by a few log-odds; a German sentence by dozens.
    assert 0.0 < short < 10.0
    assert sentence > 40.0
    assert english == empty == 0.0
