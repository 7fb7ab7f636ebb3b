"""Prompt normalisation: undo the tricks people use to slip words past a filter.

Pure functions of their input. `normalize` returns lower-case ASCII-ish text in which
look-alike letters, leetspeak, zero-width characters and spaced-out letters are undone;
`squeeze` also collapses repeated letters, for a second match pass.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Letters from other scripts that look like Latin ones (a subset of Unicode's confusables
# that covers Cyrillic, Greek and a few IPA letters seen in filter evasion).
CONFUSABLES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
        "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i",
        "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ɡ": "g", "ı": "i", "ɩ": "i", "ʀ": "r",
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
        "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ѵ": "v", "ӏ": "l", "ց": "g",
        "ս": "u", "օ": "o", "զ": "q", "ⅼ": "l", "ℓ": "l", "п": "n", "һ": "h", "ԍ": "g",
        "ɑ": "a", "ϲ": "c", "ϳ": "j", "ȷ": "j",
        # Small capitals, which NFKC leaves alone: "ᴘᴏʀɴ".
        "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ɢ": "g", "ʜ": "h",
        "ɪ": "i", "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p",
        "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
    }
)  # fmt: skip

LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
     "@": "a", "$": "s", "!": "i", "|": "i", "+": "t", "€": "e", "£": "l"}
)  # fmt: skip

INVISIBLE_CATEGORIES = {"Cc", "Cf", "Co", "Cn", "Mn"}
WORD = re.compile(r"[^\s]+")
HAS_LETTER = re.compile(r"[a-z]")
# Three or more single characters separated by spaces or punctuation: "s e x", "g.o.r.e",
# "p 0 r n". One character may be a leetspeak digit or symbol; two spaces or more end a word
# ("h e i l  h i t l e r" is two words), as they do for a reader.
_SINGLE = r"[a-z0-9@$!|+]"
_PUNCT = r"[.\-_*,~'\"/\\]"
_GAP = rf"(?:{_PUNCT}+|{_PUNCT}* {_PUNCT}*)"
SPACED = re.compile(rf"(?<![a-z0-9@$!|+])(?:{_SINGLE}{_GAP}){{2,}}{_SINGLE}(?![a-z0-9@$!|+])")
SEPARATORS = re.compile(r"[\s.\-_*,~'\"/\\]+")
NON_WORD = re.compile(r"[^a-z0-9\s]+")
SPACES = re.compile(r"\s+")
REPEATS = re.compile(r"([a-z])\1+")


# ASCII text needs no decomposition: only its control characters go (tabs and newlines
# become spaces), which a translate table does at C speed.
_ASCII_CONTROLS = str.maketrans(
    {**{chr(c): None for c in (*range(32), 127)}, "\t": " ", "\n": " ", "\r": " "}
)


def _strip_invisible(text: str) -> str:
    if text.isascii():
        return text.translate(_ASCII_CONTROLS)
    # NFKD splits accents off their letters ("é" -> "e" + U+0301) so they drop with Mn.
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(
        " " if ch in "\t\n\r" else ch
        for ch in decomposed
        if ch in "\t\n\r" or unicodedata.category(ch) not in INVISIBLE_CATEGORIES
    )


def _unleet_word(word: str) -> str:
    # Only inside words that have letters: "3 cats" stays, "k1ll" becomes "kill". Marks
    # that end a word are punctuation there: "g0r3!" is "gore", "wow!!" is "wow".
    if not HAS_LETTER.search(word):
        return word
    core = word.rstrip("!?.,")
    return core.translate(LEET) + word[len(core) :]


# A prompt is read several times per check (each reading, the spelled-out runs, the
# classifier's features); these pure functions keep the recent results.
@lru_cache(maxsize=4096)
def _letters(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _strip_invisible(text).casefold().translate(CONFUSABLES)
    return WORD.sub(lambda m: _unleet_word(m.group()), text)


def _finish(text: str) -> str:
    return SPACES.sub(" ", NON_WORD.sub(" ", text)).strip()


def _join(match: re.Match[str]) -> str:
    """Spaced-out characters as one word, leetspeak undone; "1 2 3" stays as it was."""
    run = match.group()
    letters = SEPARATORS.sub("", run)
    if len(HAS_LETTER.findall(letters)) < 2:
        return run
    return letters.translate(LEET)


@lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    return _finish(SPACED.sub(_join, _letters(text)))


def clear_caches() -> None:
    """Forget the cached readings (benchmarks time a prompt as read the first time)."""
    normalize.cache_clear()
    _letters.cache_clear()


def readings(text: str) -> list[str]:
    """Every normalised reading of a prompt that matching should look at."""
    first = normalize(text)
    second = _finish(SPACED.sub(_join_keeping_article, _letters(text)))
    return [first] if second == first else [first, second]


def _join_keeping_article(match: re.Match[str]) -> str:
    """Spaced-out letters that start with a one-letter word: "a n u d e" -> "a nude"."""
    letters = _join(match)
    if letters[0] in "ai" and len(letters) > 3 and " " not in letters:
        return f"{letters[0]} {letters[1:]}"
    return letters


def squeeze(text: str) -> str:
    """Collapse runs of one letter ("kiiilll" -> "kil"), for matching stretched words."""
    return REPEATS.sub(r"\1", text)


def spelled_out_runs(text: str) -> list[str]:
    """Letters spelled out one by one, each run joined ("n u d e k i d s" -> "nudekids").

    A run can hide two words; matching reads these runs without word boundaries.
    """
    runs = (_join(m) for m in SPACED.finditer(_letters(text)))
    return [run for run in runs if " " not in run and len(run) >= 6]
