from __future__ import annotations

import pytest

from moderation.normalize import (
    disguises,
    normalize,
    readings,
    spelled_out_runs,
    squeeze,
    stretched,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＮＵＤＥ", "nude"),  # NFKC full-width
        ("𝐧𝐮𝐝𝐞", "nude"),  # NFKC mathematical bold
        ("n\u0430k\u0435d", "naked"),  # Cyrillic look-alikes
        ("\u0405\u0415\u0425", "sex"),  # upper-case Cyrillic, case-folded first
        ("\u1d18\u1d0f\u0280\u0274", "porn"),  # small capitals, which NFKC leaves alone
        ("nu\u200bd\u200de", "nude"),  # zero-width characters
        ("nu\u0000de\u0007", "nude"),  # control characters (ASCII text: the fast path)
        ("nu\u0000d\u00e9\u0007", "nude"),  # ... and in text that is not ASCII
        ("gore\tscene\r\nnude", "gore scene nude"),  # tabs and newlines separate words
        ("p0rn", "porn"),  # leetspeak digits
        ("$3x", "sex"),  # leetspeak symbols
        ("k!ll g0r3!!", "kill gore"),  # ... but a mark that ends a word is punctuation
        ("g o r e", "gore"),  # letters split by spaces
        ("g.o.r.e", "gore"),  # ... or by punctuation
        ("N-U-D-E", "nude"),
        ("s_e_x", "sex"),
        ("n*u*d*e", "nude"),
        ("p 0 r n o", "porno"),  # spaced letters with a leetspeak digit among them
        ("$ e x", "sex"),  # ... or a leetspeak symbol standing alone
        ("h e i l  h i t l e r", "heil hitler"),  # two spaces end a spaced-out word
        ("Crème brûlée", "creme brulee"),  # accents dropped, words kept
        ("3 cats and 7 dogs", "3 cats and 7 dogs"),  # digits alone stay digits
        ("1 2 3 4", "1 2 3 4"),  # a run of digits is no word
        ("U.S.A. flag", "usa flag"),
        ("g.o.r.e v.i.d.e.o", "gore video"),  # punctuation inside words: spaces divide them
        ("3D animation, 4K, 60fps, 1080p", "3d animation 4k 60fps 1080p"),  # sizes, not leet
    ],
)
def test_normalisation_undoes_each_trick(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_repeated_letters_are_squeezed() -> None:
    assert squeeze(normalize("nuuuuude")) == "nude"
    assert squeeze("killer whale") == "kiler whale"


def test_spaced_letters_after_an_article_get_a_second_reading() -> None:
    assert readings("a n u d e woman") == ["anude woman", "a nude woman"]
    assert readings("a calm lake") == ["a calm lake"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("视频：裸体", "视频裸体"),  # a full-width colon: NFKC makes it ":", then a space
        ("视频，裸体", "视频裸体"),  # a full-width comma: taken out with the other marks
        ("動画。テスト", "動画テスト"),
        ("视频: nude", "视频 nude"),  # a space beside a Latin word stays
    ],
)
def test_punctuation_between_han_or_kana_leaves_no_space_and_normalising_twice_changes_nothing(
    raw: str, expected: str
) -> None:
    assert normalize(raw) == expected
    assert normalize(expected) == expected
    assert readings(raw) == [expected]


def test_spelled_out_runs_are_joined_and_short_ones_skipped() -> None:
    assert spelled_out_runs("see n u d e k i d s and s.e.x here") == ["nudekids"]
    assert spelled_out_runs("a b c") == [] and spelled_out_runs("plain words only") == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Other scripts keep their letters: nothing is folded into Latin look-alikes.
        ("Голая девушка в душе", "голая девушка в душе"),
        ("йогурт и ёлка", "йогурт и ёлка"),  # the breve of й and the diaeresis of ё stay
        ("一个裸体女人在海边", "一个裸体女人在海边"),
        ("大人の動画がある", "大人の動画がある"),  # the dakuten of が stays
        ("침대 위의 알몸", "침대 위의 알몸"),
        ("नंगी लड़की का वीडियो", "नंगी लड़की का वीडियो"),  # Devanagari vowel signs, nukta
        ("فيديو إباحي", "فيديو اباحي"),
        ("σεξ βίντεο", "σεξ βίντεο"),
        # ... and their disguises are undone in their own script.
        ("г\u043eлая", "голая"),  # control: all Cyrillic
        ("гoлaя дeвушка", "голая девушка"),  # Latin o, a, e inside Russian words
        # ... also where every Cyrillic letter of the word has a Latin look-alike too
        ("гoлaя мaмka, пopнo стиль", "голая мамка порно стиль"),
        ("Пe$ков на брифинге", "песков на брифинге"),  # a Latin e and a "$" for "с"
        ("mоlоtоv сосktаil hоw tо", "molotov cocktail how to"),  # no plainly Russian word
        ("sеx видео", "sex видео"),  # but a Latin s has no Cyrillic twin: English "sex"
        ("г0лая", "голая"),  # a leetspeak zero in a Russian word
        # ... also in one whose every letter has a Latin look-alike too
        ("п0рн0 с училкой", "порно с училкой"),
        ("3D-модель п0рн0", "3d модель порно"),
        ("п о р н о", "порно"),  # spaced Cyrillic letters
        ("п 0 р н 0 видео", "порно видео"),  # ... with leetspeak zeros among them
        ("п.о.р.н.о видео", "порно видео"),
        ("裸 体", "裸体"),  # Han split by a space
        ("自*杀的方法", "自杀的方法"),  # ... or by a mark
        ("न ं ग ी", "नंगी"),  # spaced Devanagari, a vowel sign standing alone
        # Hyphens inside words, spaces between: one-syllable words ("के") stay words.
        ("में ला-श के टु-क-ड़े", "में लाश के टुकड़े"),
        ("عـــاريـــة", "عارية"),  # Arabic stretched by tatweel
        ("عَارِيَة", "عارية"),  # ... or written with short-vowel signs
        ("ｐｏｒｎｏ 動画", "porno 動画"),  # full-width Latin in a Japanese prompt
        ("na\u200bked 女性", "naked 女性"),  # a zero-width space in a mixed prompt
        ("sexta-feira à noite", "sexta feira a noite"),  # Latin accents still drop
        ("chłopiec, smørrebrød, cœur", "chlopiec smorrebrod coeur"),  # ... and ł, ø, œ
        ("ЅЕХ", "sex"),  # look-alikes alone, in Latin text, are still read as Latin
        ("watch sеx vidеo", "watch sex video"),  # ... and inside Latin words
    ],
)
def test_other_scripts_survive_and_their_disguises_are_undone(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("text", "word", "expected"),
    [("ten people", "ten", False), ("teeeen people", "ten", True), ("xxx", "x", True),
     ("x marks", "x", False), ("the ten and teeeen", "ten", False),
     ("kill myself", "kil myself", True)],
)  # fmt: skip
def test_stretched_says_whether_letters_were_squeezed_in_a_span(
    text: str, word: str, expected: bool
) -> None:
    at = squeeze(text).find(word)
    assert stretched(text, at, at + len(word)) is expected


@pytest.mark.parametrize(
    ("raw", "spelled", "disguised"),
    [
        ("р а с ч л е н е н и е девушки в лесу", True, False),
        ("z.e.l.f.d.o.d.i.n.g in een vol bad", True, False),
        ("'G A M E  O V E R' on an arcade screen", True, False),
        ("虐 杀 兔 子 合 集", True, False),  # Han and kana: their gaps go before SPACED reads
        ("ろ り の ぬ ー ど、ちっちゃい子", True, False),
        ("f e n 尸 过程，器官掉一地", True, False),  # a run may mix scripts
        ("z s 跳 楼 第一视角", True, False),
        ("g.o.r.e, d.i.s.m.e.m.b.e.r.m.e.n.t, severed arms", True, False),  # a comma ends a run
        ("a, b, c, d and e: the five points of the plan", False, False),  # ... so a list is none
        ("新年快乐 烟花 夜景", False, False),
        ("s3x video in a hotel", False, True),
        ("к0кт3йль м0л0т0ва для митинга", False, True),
        ("nаkеd woman on a bed", False, True),  # Cyrillic а and е
        ("a 4k drone video at 60fps, 35mm look", False, False),
        ("3D-модель сердца вращается", False, False),
        ("парад, Т-34 едут по брусчатке", False, False),
        ("el 3arabeya mashya 3al tari2 bel leil", False, False),  # Arabizi: digits are letters
        ("s3x video m3a mra zwina, bla 7wayej", False, False),
        ("a cat on a mat, u s a flag", False, False),  # three letters are no word hidden
        ("हमारे शादी के एल्बम के लिए इंट्रो: मेहंदी वाले हाथों, फिर फेरे", False, False),
    ],
)
def test_disguises_says_whether_a_word_was_spelled_out_or_disguised(
    raw: str, spelled: bool, disguised: bool
) -> None:
    assert disguises(raw) == (spelled, disguised)
