from __future__ import annotations

import pytest

from moderation.normalize import normalize, readings, spelled_out_runs, squeeze


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


def test_spelled_out_runs_are_joined_and_short_ones_skipped() -> None:
    assert spelled_out_runs("see n u d e k i d s and s.e.x here") == ["nudekids"]
    assert spelled_out_runs("a b c") == [] and spelled_out_runs("plain words only") == []
