"""Prompt normalisation: undo the tricks people use to slip words past a filter.

Pure functions of their input. `normalize` returns lower-case text in which look-alike
letters, leetspeak, zero-width characters and spaced-out letters are undone, in every
script: Latin text comes out ASCII (accents dropped); Cyrillic, Greek, Arabic, Devanagari,
Han, kana and Hangul keep their letters (see `_fold_word` and `_strip_invisible`), so
that the learned models can read them. `squeeze` also collapses repeated letters, for a
second match pass.
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
        # Latin letters that NFKD does not split into a letter and an accent: "chłopiec" is
        # typed "chlopiec" on a phone, and Latin text comes out ASCII.
        "ł": "l", "ø": "o", "đ": "d", "ð": "d", "ħ": "h", "æ": "ae", "œ": "oe", "þ": "th",
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

# Cyrillic letters, to fold the other way round: Latin look-alikes inside a Cyrillic word
# ("гoлaя" with a Latin o and a) become Cyrillic, and so do a leetspeak zero and "$".
TO_CYRILLIC = str.maketrans(
    {"a": "а", "b": "в", "c": "с", "e": "е", "h": "н", "k": "к", "m": "м", "o": "о",
     "p": "р", "t": "т", "x": "х", "y": "у", "0": "о", "3": "з", "6": "б", "$": "с"}
)  # fmt: skip
_TO_CYRILLIC_KEYS = {chr(k) for k in TO_CYRILLIC}
TO_CYRILLIC_LETTERS = {k: v for k, v in TO_CYRILLIC.items() if chr(k).isalpha()}
# The leetspeak of TO_CYRILLIC ("0", "3", "6", "$"), which stands for a Cyrillic letter only
# beside one: "п0рн0", "г0р3", but "3d-модель" is 3D.
_LEET_CLASS = "[" + re.escape("".join(chr(k) for k in TO_CYRILLIC if not chr(k).isalpha())) + "]"
_CYRILLIC_LEET = re.compile(_LEET_CLASS)
_CYRILLIC_LEET_BESIDE = re.compile(
    rf"(?<=[\u0400-\u052f]){_LEET_CLASS}|{_LEET_CLASS}(?=[\u0400-\u052f])"
)


def _to_cyrillic(word: str) -> str:
    """Latin look-alikes in a Russian word become Cyrillic, and leetspeak beside a Cyrillic
    letter too."""
    word = _CYRILLIC_LEET_BESIDE.sub(lambda m: m.group().translate(TO_CYRILLIC), word)
    return word.translate(TO_CYRILLIC_LETTERS)


# Letters of Cyrillic and Greek that look like no Latin letter: a word with them is written
# in that script, whatever look-alikes it also has.
_FOLDED = {chr(k) for k in CONFUSABLES if 0x370 <= k < 0x530}
# Look-alikes that no Russian word has: a word with one is Latin in disguise ("ЅЕХ").
_DISGUISE_ONLY = set("ѕјԁԛԝӏһԍѵ")
_CYRILLIC_OR_GREEK = re.compile(r"[\u0370-\u03ff\u0400-\u052f]")
_CYRILLIC = re.compile(r"[\u0400-\u052f]")
_LATIN = re.compile(r"[a-z]")

INVISIBLE_CATEGORIES = {"Cc", "Cf", "Co", "Cn"}
# Marks that carry no meaning a filter needs: accents on Latin letters ("é" reads "e"),
# Arabic short-vowel signs and the tatweel that stretches a word ("عـــاريـــة"). Every
# other mark is part of its letter and stays: the dakuten of "が", the breve of "й",
# Devanagari vowel signs and virama.
_ARABIC_MARKS = {*map(chr, range(0x064B, 0x0660)), "\u0670", "\u0640"}
WORD = re.compile(r"[^\s]+")
HAS_LETTER = re.compile(r"[a-z]")
# Three or more single characters separated by spaces or punctuation: "s e x", "g.o.r.e",
# "p 0 r n", "п о р н о". One character may be a leetspeak digit or symbol; two spaces or
# more end a word ("h e i l  h i t l e r" is two words), as they do for a reader.
# Devanagari vowel signs, nasal marks, nukta and virama: part of the letter before them.
_MARKS = r"[\u0900-\u0903\u093a-\u094f\u0951-\u0957\u0962\u0963]"
_SINGLE = rf"(?:[^\W_]|[@$!|+]|{_MARKS}){_MARKS}*"
_EDGE = rf"[^\W_]|[@$!|+]|{_MARKS}"
_PUNCT = r"[.\-_*,~'\"/\\]"
_GAP = rf"(?:{_PUNCT}+|{_PUNCT}* {_PUNCT}*)"
SPACED = re.compile(rf"(?<!{_EDGE})(?:{_SINGLE}{_GAP}){{2,}}{_SINGLE}(?!{_EDGE})")
SEPARATORS = re.compile(r"[\s.\-_*,~'\"/\\]+")
# Punctuation between two letters of a spaced-out run, with no space beside it, and a gap
# with a space in it.
INNER_PUNCT = re.compile(rf"(?<![\s.\-_*,~'\"/\\]){_PUNCT}+(?![\s.\-_*,~'\"/\\])")
SPACE_GAP = re.compile(rf"{_PUNCT}* {_PUNCT}*")
# Han and kana are written without spaces: a space or mark between two of them ("裸 体",
# "自*杀") only hides a word.
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_GAP = re.compile(rf"(?<=[{_CJK}])[\s.\-_*,~'\"/\\]+(?=[{_CJK}])")
# One Han or kana character (term matching in prompt_filter: no word boundaries there).
CJK_CHAR = re.compile(rf"[{_CJK}]")
# Sizes, rates and counts are no leetspeak: "3D", "4K", "60fps", "1080p", "35mm", "90s".
MEASURE = re.compile(r"\d+(?:d|k|p|fps|mm|cm|m|s|x|min|h|hz|st|nd|rd|th|gb|mp)")
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
    # NFKD splits accents off their letters ("é" -> "e" + U+0301); a mark goes when its
    # letter is Latin (ASCII once split), NFC then puts every other mark back on its letter.
    decomposed = unicodedata.normalize("NFKD", text)
    kept: list[str] = []
    base = ""
    for ch in decomposed:
        if ch in "\t\n\r":
            kept.append(" ")
            continue
        category = unicodedata.category(ch)
        if category in INVISIBLE_CATEGORIES or ch in _ARABIC_MARKS:
            continue
        if category == "Mn" and (base.isascii() or not base):
            continue
        if category.startswith("L"):  # a mark spaced off its letter still belongs to it
            base = ch
        kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept))


def _unleet_word(word: str) -> str:
    # Only inside words that have letters: "3 cats" stays, "k1ll" becomes "kill". Marks
    # that end a word are punctuation there: "g0r3!" is "gore", "wow!!" is "wow".
    if not HAS_LETTER.search(word):
        return word
    core = word.rstrip("!?.,")
    if MEASURE.fullmatch(core):
        return word
    return core.translate(LEET) + word[len(core) :]


def _is_cyrillic_or_greek(word: str) -> bool:
    """Whether a word is written in Cyrillic or Greek: it has letters no Latin one mimics."""
    return any(ch not in _FOLDED for ch in _CYRILLIC_OR_GREEK.findall(word))


def _cyrillic_in_disguise(word: str) -> bool:
    """A word of Cyrillic letters that all have Latin look-alikes, and Latin letters that
    all have Cyrillic ones ("пopнo", "мaмka"), or leetspeak for Cyrillic letters ("п0рн0"):
    in a Russian text, a Russian word."""
    latin = _LATIN.findall(word)
    if not (latin or _CYRILLIC_LEET.search(word)) or _DISGUISE_ONLY.intersection(word):
        return False
    return all(ch in _TO_CYRILLIC_KEYS for ch in latin)


def _fold_word(word: str, latin_text: bool, cyrillic_text: bool) -> str:
    """Undo look-alike letters and leetspeak in one word, in the script it is written in.

    A Russian word stays Russian ("голая", "порно"); Latin look-alikes in it become
    Cyrillic ("гoлaя" -> "голая"), also where its Cyrillic letters all have Latin
    look-alikes too ("пopнo" -> "порно") in a text with more plainly Russian words than
    plainly Latin ones. A Latin word with Cyrillic or Greek look-alikes becomes
    Latin ("nаkеd" -> "naked"), and so does a word of look-alikes only in text that is
    otherwise Latin ("watch сех" -> "watch sex"), or one with a look-alike no Russian word
    has ("ЅЕХ" -> "sex"). Words of every other script are left as they are.
    """
    if not _CYRILLIC_OR_GREEK.search(word):
        return _unleet_word(word.translate(CONFUSABLES))
    if _is_cyrillic_or_greek(word):
        return _to_cyrillic(word) if _CYRILLIC.search(word) else word
    if cyrillic_text and _CYRILLIC.search(word) and _cyrillic_in_disguise(word):
        return _to_cyrillic(word)
    if latin_text or _LATIN.search(word) or _DISGUISE_ONLY.intersection(word):
        return _unleet_word(word.translate(CONFUSABLES))
    return word


# A prompt is read several times per check (each reading, the spelled-out runs, the
# classifier's features); these pure functions keep the recent results.
@lru_cache(maxsize=4096)
def _cased(text: str) -> str:
    """NFKC, without invisible characters and Latin accents, case-folded: the text as typed,
    before any look-alike or leetspeak is undone."""
    return _strip_invisible(unicodedata.normalize("NFKC", text)).casefold()


@lru_cache(maxsize=4096)
def _letters(text: str) -> str:
    return CJK_GAP.sub("", _folded(text))


@lru_cache(maxsize=4096)
def _folded(text: str) -> str:
    """`_cased`, with look-alikes and leetspeak undone word by word; the gaps between Han
    and kana characters are still there (`_letters` takes them out)."""
    text = _cased(text)
    if text.isascii():
        return WORD.sub(lambda m: _unleet_word(m.group()), text)
    words = WORD.findall(text)
    latin = [bool(_LATIN.search(w)) for w in words]
    other = [bool(_CYRILLIC_OR_GREEK.search(w)) for w in words]
    # Text is Latin where more of its words have Latin letters than Cyrillic or Greek ones.
    latin_text = sum(latin) > sum(other)
    # Text is Russian where more words have a letter only Cyrillic has ("джакузи") than are
    # Latin letters alone: a text of disguised words only ("mоlоtоv", "tо") is not.
    plainly_cyrillic = sum(bool(_CYRILLIC.search(w)) and _is_cyrillic_or_greek(w) for w in words)
    plainly_latin = sum(a and not o for a, o in zip(latin, other, strict=True))
    cyrillic_text = plainly_cyrillic > plainly_latin
    return WORD.sub(lambda m: _fold_word(m.group(), latin_text, cyrillic_text), text)


@lru_cache(maxsize=8192)
def _is_word_character(ch: str) -> bool:
    """Letters, digits and the marks that belong to letters (Devanagari vowel signs)."""
    return unicodedata.category(ch)[0] in "LNM"


def _finish(text: str) -> str:
    if text.isascii():
        return SPACES.sub(" ", NON_WORD.sub(" ", text)).strip()
    text = "".join(ch if _is_word_character(ch) or ch.isspace() else " " for ch in text)
    return SPACES.sub(" ", text.replace("_", " ")).strip()


def _join(match: re.Match[str]) -> str:
    """Spaced-out characters as words, leetspeak undone; "1 2 3" stays as it was.

    A run that puts punctuation between letters keeps its spaces as word breaks:
    "g.o.r.e v.i.d.e.o" is "gore video", and Hindi "ला-श के टु-क-ड़े" is three words, not
    one (its one-syllable words "के", "से" would otherwise join their neighbours).
    """
    run = match.group()
    if " " in run and INNER_PUNCT.search(run):
        return " ".join(_join_letters(part) for part in SPACE_GAP.split(run))
    return _join_letters(run)


def _join_letters(run: str) -> str:
    letters = SEPARATORS.sub("", run)
    if sum(ch.isalpha() for ch in letters) < 2:
        return run
    # Spaced Russian letters with leetspeak among them ("п 0 р н 0"): Cyrillic, as a word.
    if len(_CYRILLIC.findall(letters)) > len(_LATIN.findall(letters)):
        return letters.translate(TO_CYRILLIC)
    if HAS_LETTER.search(letters) or letters.isascii():
        return letters.translate(LEET)
    return letters


@lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    return _joined_cjk(_finish(SPACED.sub(_join, _letters(text))))


def _joined_cjk(text: str) -> str:
    """No space between two Han or kana characters: the spaces that punctuation left there
    ("视频：裸体", whose full-width colon becomes a space) go the way CJK_GAP takes the
    marks out before, so that normalising twice changes nothing."""
    return text if text.isascii() else CJK_GAP.sub("", text)


def clear_caches() -> None:
    """Forget the cached readings (benchmarks time a prompt as read the first time)."""
    normalize.cache_clear()
    _letters.cache_clear()
    _folded.cache_clear()
    _cased.cache_clear()


def readings(text: str) -> list[str]:
    """Every normalised reading of a prompt that matching should look at."""
    first = normalize(text)
    second = _joined_cjk(_finish(SPACED.sub(_join_keeping_article, _letters(text))))
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


def stretched(text: str, start: int, end: int) -> bool:
    """Whether `squeeze(text)[start:end]` holds a collapsed run of `text` ("ten" out of
    "teeeen" does, "ten" out of "ten" does not)."""
    removed = 0
    for run in REPEATS.finditer(text):
        at = run.start() - removed  # where the run's one letter stands in the squeezed text
        if at >= end:
            return False
        if at >= start:
            return True
        removed += len(run.group()) - 1
    return False


def spelled_out_runs(text: str) -> list[str]:
    """Letters spelled out one by one, each run joined ("n u d e k i d s" -> "nudekids").

    A run can hide two words; matching reads these runs without word boundaries.
    """
    runs = (_join(m) for m in SPACED.finditer(_letters(text)))
    return [run for run in runs if " " not in run and len(run) >= 6]


# Leetspeak inside a Latin or Cyrillic word: a digit or symbol between two letters ("s3x",
# "p0rn", "к0кт3йль"), or after two ("murd3r" ends "3r"; "k1ll"). Han and kana run words
# together with numbers ("3ラウンドでKO"), so only these two scripts count.
_LEET_INSIDE = re.compile(
    r"[a-z\u0400-\u052f][0-9@$][a-z\u0400-\u052f]|[a-z\u0400-\u052f]{2}[0-9]$"
)
_WORD_EDGES = "!?.,:;\"'()«»[]{}"
# Words, and the parts of a hyphenated one ("3D-модель" is a size and a word).
_PARTS = re.compile(r"[\s\-/]+")
# Four or more Han or kana characters apart, whatever follows them ("じ さ つ 実況"): SPACED
# wants its run to end at a gap, and Han and kana run on into the next word.
_CJK_SPELLED = re.compile(rf"[{_CJK}](?:[\s.\-_*,~'\"/\\]+[{_CJK}]){{3,}}")
# Arabic typed in Latin letters (Arabizi) writes letters with digits: 2 (ء, ق), 7 (ح), 9
# (ق, ص), and 3 (ع) that starts a word ("3arabeya", "tari2", "sa7ra"). Leetspeak rarely
# uses 2, 7 or 9, or starts a word with 3.
_ARABIZI = re.compile(r"[a-z][279]|[279][a-z]|^3[a-z]")


def disguises(text: str) -> tuple[bool, bool]:
    """Whether a prompt hides words: (spelled out, disguised).

    Spelled out: four or more single characters of any script spaced or dotted apart ("р а с
    ч л е н е н и е", "z.e.l.f.d.o.d.i.n.g", "虐 杀 兔 子", "f e n 尸"). Disguised: a word
    with leetspeak between its letters ("s3x", "к0кт3йль"; not sizes such as "4k" or "60fps",
    nor the digits of Arabizi, "tari2"), or with Latin and Cyrillic letters mixed ("nаkеd"
    with Cyrillic а and е). `normalize` undoes both, so the models read the word; that it
    was hidden at all is evidence of its own, which the combiner weighs (text_model.py). Few
    benign prompts do it (a spaced-out title card, a gamer tag).
    """
    # Read before the gaps between Han and kana go, so that a run may mix scripts ("f e n 尸").
    raw = _cased(text)
    # A comma ends a run: "a, b, c, d" is a list.
    spelled = bool(_CJK_SPELLED.search(raw)) or any(
        len([p for p in SEPARATORS.split(run) if p]) >= 4
        for m in SPACED.finditer(_folded(text))
        for run in m.group().split(",")
    )
    parts = [p.strip(_WORD_EDGES) for p in _PARTS.split(raw)]
    parts = [p for p in parts if not MEASURE.fullmatch(p)]
    # In Arabizi, digits are letters, not a disguise.
    leet = not any(_ARABIZI.search(p) for p in parts)
    disguised = any(
        (leet and _LEET_INSIDE.search(p)) or (_CYRILLIC.search(p) and _LATIN.search(p))
        for p in parts
    )
    return spelled, disguised
