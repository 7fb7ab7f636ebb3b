"""Which language a prompt is written in, for the policy's per-language thresholds.

The issue's targets differ by language (English blind sets: at most 1.6% of benign prompts
stopped; every other language: at most 2%), and so do the combiner's scores: one threshold
for all is set by the strictest. `text_model.language_thresholds` gives a language its own
(policy.py). The language is told by py3langid (BSD-3; its naive Bayes model over byte
n-grams ships inside the pip package, so nothing is downloaded), restricted to English and
the languages the policy names, and read from the normalised text, so that a disguised
English word ("nаkеd" with Cyrillic letters) reads as English. A prompt told wrongly is
judged at the threshold of the language it was told to be in: a short English prompt
("two men") now and then at another language's. `margins` says how sure the telling is:
the log-odds of the language told over English, which the moderator reads to judge an
unsure prompt as English too (`text_model.language_margin`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from functools import cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

# The language a threshold of its own is never given for: `text_model.threshold` is its.
DEFAULT = "en"


@cache
def _model() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE)  # ~0.5 s: read once


@cache
def _identifier(among: frozenset[str]) -> LanguageIdentifier:
    # A shallow copy: set_languages rebinds the copy's arrays, never the model's.
    identifier = copy.copy(_model())
    identifier.set_languages(sorted(among))
    return identifier


def known() -> frozenset[str]:
    """The language codes py3langid tells apart (ISO 639-1 where there is one)."""
    return frozenset(_model().labels)


def languages(texts: Iterable[str], among: Iterable[str]) -> list[str]:
    """Each text's language, told among `among` and English (empty text: English)."""
    identifier = _identifier(frozenset({DEFAULT, *among}))
    return [identifier.classify(text)[0] if text.strip() else DEFAULT for text in texts]


def margins(texts: Iterable[str], among: Iterable[str]) -> list[tuple[str, float]]:
    """Each text's language as `languages` tells it, and by how much it was told over
    English: the naive Bayes log-odds (0.0 for a text told English). Short texts are told
    by little ("two men": Polish by 5.4), sentences by hundreds."""
    identifier = _identifier(frozenset({DEFAULT, *among}))
    out = []
    for text in texts:
        if not text.strip():
            out.append((DEFAULT, 0.0))
            continue
        ranked = identifier.rank(text)
        english = next(score for lang, score in ranked if lang == DEFAULT)
        out.append((ranked[0][0], float(ranked[0][1] - english)))
    return out
