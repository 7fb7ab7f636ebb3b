"""Prompt moderation: a Verdict for each prompt, before any GPU time is spent on it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from moderation.language import DEFAULT, margins
from moderation.normalize import (
    CJK_CHAR,
    normalize,
    readings,
    spelled_out_runs,
    squeeze,
    stretched,
)
from moderation.policy import SEVERITY, Action, Policy, load_policy
from moderation.text_model import TextModel, hidden_words

SUFFIXES = r"(?:s|es|ed|d|ing|er|ers)?"
SHORT_SUFFIXES = r"(?:s|es|ed|d|ing)?"
CLASSIFIER_CATEGORY = "profanity"
# "no gore, no people", "without blood or gore", "sin sangre": a term right after a negation
# (or after a negated word and "and"/"or") names what must not appear. Han negations come
# straight before the word they negate ("没有血腥"); other scripts' negations are words.
_NEGATIONS = (
    "no|without|zero|never|sin|nada de|sem|nada|sans|pas de|pas|ohne|kein|keine|nichts|senza|"
    "niente|nessun|nessuna|zonder|geen|niets|bez|zadnych|zadnej|zadnego|без|никаких|нет|"
    "بدون|بلا|बिना"
)
_AND_OR = "and|or|nor|y|o|ni|e|ou|et|und|oder|ed|en|of|i|lub|ani|и|или|ни|ve|veya|و|और|या"


def _negated(negations: str, and_or: str) -> re.Pattern[str]:
    return re.compile(
        rf"(?:\b(?:{negations})(?:\s+\w+\s+(?:{and_or}))?|没有|沒有|不要|不含|不带|不帶|禁止|避免)\s*$"
    )


NEGATED = _negated(_NEGATIONS, _AND_OR)
# The same over squeezed text, where "geen" reads "gen" and "nessun" "nesun".
NEGATED_SQUEEZED = _negated(squeeze(_NEGATIONS), squeeze(_AND_OR))
STYLE_AFTER = re.compile(r"\s*(?:style|inspired|esque)\b")
STYLE_BEFORE = re.compile(r"\bstyle of\s*$")


class Reason(BaseModel):
    """One rule that fired.

    With the learned model on, a term rule or the profanity classifier that it weighs is
    recorded with action "allow": it is evidence, and its weight is in the score of the
    "model:prompt-classifier" reason.
    """

    category: str
    rule: str = Field(description="The term, pattern or classifier that fired.")
    score: float = Field(description="1.0 for a term match; the probability for a classifier.")
    field: Literal["prompt", "negative_prompt", "image"] = Field(
        description="What it read: the prompt, the negative prompt, or the input image."
    )
    action: Action
    threshold: float | None = Field(
        None,
        description="For the learned classifier, the threshold it fired from: its policy's, "
        "or that of the language the prompt was told to be in (`language_thresholds`).",
    )


class Verdict(BaseModel):
    """The moderation decision on one prompt, with every reason behind it."""

    action: Action
    category: str | None = Field(None, description="Category of the most severe reason.")
    rule: str | None = None
    score: float = 0.0
    normalized_text: str = Field(description="The prompt as matched, after normalisation.")
    reasons: list[Reason] = Field(default_factory=list)


# A squeezed-only match shorter than this, of one word, counts only where letters were
# squeezed there (`_first_match`); longer ones also catch a dropped double letter
# ("kil myself", "toples").
SHORT_SQUEEZED = 6

# A word character, Indic letters' vowel signs and viramas included: Python's \w leaves
# those marks out, so \b would fall inside "नंगी" or "बच्ची".
WORD_CHAR = r"[\w\u0900-\u0dff]"


def _term_pattern(
    terms: list[str], squeezed: bool, exact: list[str] | None = None, *, bounded: bool = True
) -> re.Pattern[str] | None:
    forms, exact_forms = set(), set()
    for term in exact or []:
        norm = normalize(term)
        exact_forms.add(squeeze(norm) if squeezed else norm)
    for term in terms:
        forms.add(_normalized_term(term, squeezed))
    # One letter repeated squeezes to a lone letter, which every "k" or "x" would match;
    # such a term is matched as written: Portuguese laughter "kkkkk" is not "kkk".
    forms = {form for form in forms if len(form.strip("*")) > 1 or not squeezed}
    forms.discard("")
    if not forms and not exact_forms:
        return None
    # Terms are grouped by the boundaries at their ends, one group per kind: one boundary
    # check around many alternatives is what keeps a 120-word prompt at a few milliseconds.
    # Word boundaries keep "Scunthorpe", "grapes" and "therapist" clear of shorter terms.
    groups: dict[tuple[str, str], list[str]] = {}
    for form in sorted(forms, key=len, reverse=True):
        ends = _bounds(form) if bounded else ("", "")
        groups.setdefault(ends, []).append(
            r"\s*".join(_inflected(part) for part in form.split(" "))
        )
    for form in sorted(exact_forms, key=len, reverse=True):
        groups.setdefault((r"\b", r"\b") if bounded else ("", ""), []).append(
            rf"{_letters(form)}s?"
        )
    return re.compile("|".join(f"{l}(?:{'|'.join(alts)}){r}" for (l, r), alts in groups.items()))


def _normalized_term(term: str, squeezed: bool) -> str:
    """A policy term as matched: normalised, with its words' stem marks kept.

    A word ending in "*" is a stem that takes any ending ("эротичн*" for "эротичных"); one
    starting with "*" takes any beginning (Arabic's attached "ال" and "لل" in "*اطفال").
    """
    words = term.split()
    norm = normalize(" ".join(w.strip("*") for w in words))
    parts = [squeeze(p) if squeezed else p for p in norm.split(" ")] if norm else []
    if len(parts) != len(words):  # normalisation joined or split words: no stems to keep
        return " ".join(parts)
    return " ".join(
        ("*" if w.startswith("*") else "") + p + ("*" if w.endswith("*") and len(w) > 1 else "")
        for w, p in zip(words, parts, strict=True)
    )


def _bounds(form: str) -> tuple[str, str]:
    """The word boundaries a term's pattern needs at its start and end ("" for none).

    Han and kana are written without spaces, so a term in them matches inside a longer run
    ("儿童" in "裸体儿童视频"): a word boundary there says nothing.
    """
    first, last = form.lstrip("*")[:1], form.rstrip("*")[-1:]
    left = "" if form.startswith("*") or CJK_CHAR.match(first) else _boundary(first, "left")
    right = "" if form.endswith("*") or CJK_CHAR.match(last) else _boundary(last, "right")
    return left, right


def _boundary(letter: str, side: str) -> str:
    if letter.isascii():
        return r"\b"
    return rf"(?<!{WORD_CHAR})" if side == "left" else rf"(?!{WORD_CHAR})"


def _inflected(word: str) -> str:
    """A word with its common English inflections: every word of a phrase may bend.

    "masturbate" -> "masturbating" (silent e dropped), "cut" -> "cutting" (last consonant
    doubled), "hang himself" -> "hanging himself". Words under five letters take no -er:
    "cock" must not reach "cocker" (spaniel). An "l" also matches an "i", because leetspeak
    "1" stands for either and normalisation reads it as "i" ("n1pp1es"). Words in other
    scripts take no English endings; a stem mark ("*") stands for any letters there.
    """
    if word.startswith("*") or word.endswith("*"):
        start = f"{WORD_CHAR}*" if word.startswith("*") else ""
        end = f"{WORD_CHAR}*" if word.endswith("*") else ""
        return start + _letters(word.strip("*")) + end
    if len(word) < 3 or not word.isascii() or not word.isalpha() or len(set(word)) == 1:
        return _letters(word)  # one letter repeated ("kkk", "xxx"): that many, no more
    suffixes = SUFFIXES if len(word) >= 5 else SHORT_SUFFIXES
    if word.endswith("e"):
        return rf"(?:{_letters(word)}{suffixes}|{_letters(word[:-1])}(?:ing|ed|er|ers))"
    return rf"{_letters(word)}{_letters(word[-1])}?{suffixes}"


def _letters(word: str) -> str:
    return re.escape(word).replace("l", "[li]")


def _without(words: list[str], terms: list[re.Pattern[str]]) -> str:
    return " ".join(w for w in words if not any(term.match(w) for term in terms))


class ProfanityClassifier:
    """alt-profanity-check's shipped model, evaluated with plain numpy.

    The package's `predict_prob` goes through scikit-learn's CalibratedClassifierCV, whose
    input checks cost about 4 ms per call whatever the batch size: more than the whole 2 ms
    budget of one prompt; its TF-IDF vectoriser alone costs about 0.8 ms a call. The model
    is five linear SVMs, each with a sigmoid calibration, averaged, over word TF-IDF
    (lower-cased words of two or more letters, L2-normalised); computing exactly that from
    the fitted vocabulary, idf and coefficients costs a few microseconds per prompt.
    """

    def __init__(self) -> None:
        from profanity_check import profanity_check as shipped

        vectorizer = shipped.vectorizer
        settings = vectorizer.get_params()
        expected = {"analyzer": "word", "lowercase": True, "ngram_range": (1, 1),
                    "norm": "l2", "use_idf": True, "sublinear_tf": False, "binary": False,
                    "preprocessor": None, "tokenizer": None, "strip_accents": None}  # fmt: skip
        if any(settings[k] != v for k, v in expected.items()):
            raise RuntimeError(f"alt-profanity-check's vectoriser changed: {settings}")
        self._tokens = re.compile(vectorizer.token_pattern)
        self._vocabulary: dict[str, int] = vectorizer.vocabulary_
        self._idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        fitted = shipped.model.calibrated_classifiers_
        # [features, models]: a row per vocabulary word.
        self._weights = np.stack([c.estimator.coef_[0] for c in fitted], axis=1)
        self._intercepts = np.array([c.estimator.intercept_[0] for c in fitted])
        self._a = np.array([c.calibrators[0].a_ for c in fitted])
        self._b = np.array([c.calibrators[0].b_ for c in fitted])

    def _decision(self, text: str) -> np.ndarray[Any, np.dtype[np.float64]]:
        counts: dict[int, int] = {}
        for token in self._tokens.findall(text.lower()):
            if (column := self._vocabulary.get(token)) is not None:
                counts[column] = counts.get(column, 0) + 1
        if not counts:
            return self._intercepts
        columns = np.fromiter(counts, dtype=np.int64, count=len(counts))
        tfidf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        tfidf *= self._idf[columns]
        tfidf /= np.sqrt(tfidf @ tfidf)
        return np.asarray(tfidf @ self._weights[columns] + self._intercepts, dtype=np.float64)

    def predict_prob(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Probability that each text is profane, as the package's `predict_prob` gives."""
        if not texts:
            return np.zeros(0)
        decision = np.stack([self._decision(text) for text in texts])
        calibrated = 1.0 / (1.0 + np.exp(self._a * decision + self._b))
        return np.asarray(calibrated.mean(axis=1), dtype=np.float64)


class PromptModerator:
    """Built once per batch: compiles the policy's term patterns and loads the classifier."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy or load_policy()
        self._allowed = _term_pattern(self.policy.allow_phrases, False)
        self._patterns = {
            name: (
                _term_pattern(c.terms, False, c.exact_terms),
                _term_pattern(c.terms, True, c.exact_terms),
            )
            for name, c in self.policy.categories.items()
        }
        # Inside letters spelled out one by one, word boundaries are lost ("n u d e k i d s"
        # reads "nudekids"), so those runs are searched for terms anywhere.
        self._unbounded = {
            name: _term_pattern(c.terms, False, c.exact_terms, bounded=False)
            for name, c in self.policy.categories.items()
        }
        self._contexts = [
            (
                re.compile(
                    rf"^(?:{_inflected(normalize(term))}|{_inflected(squeeze(normalize(term)))})$"
                ),
                context,
            )
            for term, words in self.policy.benign_contexts.items()
            if (context := _term_pattern(words, False)) is not None
        ]
        checked = {n for n, c in self.policy.categories.items() if c.check_negative_prompt}
        self._negative_scope = checked.union(*(self.policy.categories[n].requires for n in checked))
        self._classifier = ProfanityClassifier()
        self._model = (
            TextModel.load(self.policy.text_model.path) if self.policy.text_model.enabled else None
        )

    def _benign_terms(self, text: str) -> list[re.Pattern[str]]:
        """The terms whose benign context words are in the prompt, so do not count there."""
        return [term for term, context in self._contexts if context.search(text)]

    def _matches(self, raw: str, only: set[str] | None = None) -> dict[str, str]:
        """Category -> matched term, over every reading of the text and its squeezed form.

        `only`: the categories to look for (all when None).
        """
        found: dict[str, str] = {}
        for text in readings(raw):
            if self._allowed is not None:
                text = self._allowed.sub(" ", text)
            squeezed = squeeze(text)
            benign = self._benign_terms(text)
            for name, (plain, lengthened) in self._patterns.items():
                if name in found or (only is not None and name not in only):
                    continue
                styles = self.policy.categories[name].style_references
                for pattern, target, negated, source in (
                    (plain, text, NEGATED, None),
                    (lengthened, squeezed, NEGATED_SQUEEZED, text),
                ):
                    term = self._first_match(pattern, target, benign, styles, negated, source)
                    if term:
                        found[name] = term
                        break
        for run in spelled_out_runs(raw):
            for name, pattern in self._unbounded.items():
                if only is not None and name not in only:
                    continue
                if name not in found and pattern is not None and (match := pattern.search(run)):
                    found[name] = match.group()
        return found

    @staticmethod
    def _first_match(
        pattern: re.Pattern[str] | None,
        target: str,
        benign: list[re.Pattern[str]],
        styles: bool,
        negated: re.Pattern[str],
        source: str | None,
    ) -> str:
        """The first match that counts: not in a benign sense, not negated, not a style.

        `source`: the text `target` was squeezed from, if it was. A short word found only
        there, where nothing was squeezed, is another word: squeezed, "teen" reads "ten",
        "noose" "nose" and "bommen" (bombs) Dutch "bomen" (trees). (A term of one letter
        repeated has no squeezed form at all: `_term_pattern`.)
        """
        for match in pattern.finditer(target) if pattern else ():
            term = match.group().strip()
            if any(b.match(term) for b in benign) or negated.search(target[: match.start()]):
                continue
            if (
                source is not None
                and len(term) < SHORT_SQUEEZED
                and " " not in term
                and not stretched(source, match.start(), match.end())
            ):
                continue
            if styles and (
                STYLE_AFTER.match(target, match.end())
                or STYLE_BEFORE.search(target[: match.start()])
            ):
                continue
            return term
        return ""

    def _term_reasons(self, raw: str, field: Literal["prompt", "negative_prompt"]) -> list[Reason]:
        # A negative prompt is read only for the categories that check it, and those they
        # require: it legitimately lists what must not appear.
        matched = self._matches(raw, self._negative_scope if field == "negative_prompt" else None)
        reasons = []
        for name, term in matched.items():
            category = self.policy.categories[name]
            if category.requires and not set(category.requires) & set(matched):
                continue
            if field == "negative_prompt" and not category.check_negative_prompt:
                continue
            reasons.append(
                Reason(category=name, rule=f"term:{term}", score=1.0, field=field,
                       action=category.action)
            )  # fmt: skip
        return reasons

    def evidence(
        self, prompts: list[tuple[str, str]]
    ) -> tuple[list[str], list[list[Reason]], np.ndarray[Any, np.dtype[np.float64]]]:
        """Normalised prompts, term reasons (prompt and negative prompt), profanity scores.

        The classifier is called once for the whole list, which amortises its vectoriser's
        fixed cost. It reads the text without the policy's benign phrases and without words
        used in a benign sense.
        """
        texts = [normalize(prompt) for prompt, _ in prompts]
        cleaned = [self._allowed.sub(" ", t) if self._allowed else t for t in texts]
        cleaned = [_without(t.split(), self._benign_terms(t)) for t in cleaned]
        profanity = self._classifier.predict_prob(cleaned)
        profanity[[not t for t in texts]] = 0.0
        reasons = [
            self._term_reasons(prompt, "prompt") + self._term_reasons(negative, "negative_prompt")
            for prompt, negative in prompts
        ]
        return texts, reasons, profanity

    def weighs_as(self, category: str) -> str:
        """The model class a category's hits count for (its `weighs_as`, else its name)."""
        found = self.policy.categories.get(category)
        return (found.weighs_as if found else None) or category

    def hits(
        self, reasons: list[list[Reason]], classes: Sequence[str]
    ) -> np.ndarray[Any, np.dtype[np.float64]]:
        """[prompts, classes]: 1 where a term rule weighing as that class fired on the prompt."""
        column = {name: i for i, name in enumerate(classes)}
        out = np.zeros((len(reasons), len(classes)))
        for row, found in enumerate(reasons):
            for r in found:
                at = column.get(self.weighs_as(r.category))
                if r.field == "prompt" and r.action != "allow" and at is not None:
                    out[row, at] = 1.0
        return out

    def _combined_reasons(
        self,
        prompts: list[str],
        reasons: list[list[Reason]],
        profanity: np.ndarray[Any, np.dtype[np.float64]],
        normalized: list[str],
    ) -> list[Reason | None]:
        """The learned decision on each prompt: the model and combiner (text_model.py).

        A prompt in a language with a threshold of its own (`language_thresholds`, told from
        its normalised text) is judged at that one; one told to be in a language of the
        model's second combiner (`TextModel.combiner_languages`) is weighed by that one.

        The model's probability of "unsafe" is the sum over the categories this policy
        moderates (present, and not allowed), so a repository's own policy without, say, a
        weapons category is not stopped by the model's weapons class. Only prompts are
        read: a negative prompt lists what must not appear, which reads like an unsafe
        prompt to a model of words.
        """
        model = self._model
        assert model is not None
        rule = self.policy.text_model
        counted = [
            (column, name, category)
            for column, name in enumerate(model.classes)
            if (category := self.policy.categories.get(name)) and category.action != "allow"
        ]
        if not counted:
            return [None for _ in prompts]
        columns = [column for column, _, _ in counted]
        probabilities = model.predict_proba(prompts)[:, columns].astype(np.float64)
        unsafe = [probabilities.sum(axis=1)]
        if model.subword is not None:
            # Trained on the same examples: the same classes in the same order.
            subword = model.subword.predict_proba(prompts)[:, columns]
            unsafe.append(subword.sum(axis=1))
            probabilities = (probabilities + subword) / 2
        hits = self.hits(reasons, model.unsafe_classes)
        # Told once, among the languages with a threshold or a combiner of their own.
        among = {*rule.language_thresholds, *model.combiner_languages}
        told_by = margins(normalized, among) if among else [(DEFAULT, 0.0)] * len(prompts)
        told = [lang for lang, _ in told_by]
        signals, hidden = np.column_stack(unsafe), hidden_words(prompts)
        combined = model.combine(signals, hits, profanity, hidden, told)
        thresholds = [rule.language_thresholds.get(lang, rule.threshold) for lang in told]
        # Told another language by a narrow margin ("two men": Polish), a prompt is judged as
        # English too and stopped only where both judgements stop it; where the English one
        # lets it pass, its score and threshold are the English ones.
        unsure = [i for i, (lang, by) in enumerate(told_by)
                  if lang != DEFAULT and by < rule.language_margin]  # fmt: skip
        if unsure:
            as_english = model.combine(signals[unsure], hits[unsure], profanity[unsure],
                                       hidden[unsure], [DEFAULT] * len(unsure))  # fmt: skip
            for i, score in zip(unsure, as_english, strict=True):
                if score < rule.threshold and combined[i] >= thresholds[i]:
                    combined[i], thresholds[i] = score, rule.threshold
        out: list[Reason | None] = []
        for row, score, threshold, fired, found in zip(
            probabilities, combined, thresholds, hits, reasons, strict=True
        ):
            if score < threshold:
                out.append(None)
                continue
            # The category: of those a term rule named, the one the model finds likeliest.
            named = {model.unsafe_classes[i] for i in np.flatnonzero(fired)}
            ranked = [(p, name, c) for p, (_, name, c) in zip(row, counted, strict=True)]
            _, name, category = max(ranked, key=lambda r: (r[1] in named, r[0]))
            # The category's own action where it is milder: impersonation goes to review.
            action = min(rule.action, category.action, key=SEVERITY.__getitem__)
            # Where only milder rules of that class fired, theirs: a how-to around a rifle
            # (weapon-instructions) is held for review, a pipe bomb (weapons) is blocked.
            milder = [r.action for r in found if self.weighs_as(r.category) == name
                      and r.field == "prompt" and r.action != "allow"]  # fmt: skip
            if milder and all(SEVERITY[a] < SEVERITY[action] for a in milder):
                action = max(milder, key=SEVERITY.__getitem__)
            out.append(Reason(category=name, rule="model:prompt-classifier",
                              score=round(float(score), 4), field="prompt", action=action,
                              threshold=threshold))  # fmt: skip
        return out

    def check_many(self, prompts: list[tuple[str, str]]) -> list[Verdict]:
        """Verdicts for (prompt, negative prompt) pairs.

        Without the learned model (text_model.enabled false) every rule acts alone. With it,
        the term rules on the prompt of the categories the model knows (by name or by
        `weighs_as`) and the profanity classifier are weighed by the combiner and recorded
        with action "allow"; the combined reason decides. Rules of other categories, and
        negative-prompt rules, still act alone.
        """
        if not prompts:  # nothing to read; the models' arrays would have no rows to shape
            return []
        texts, found, profanity = self.evidence(prompts)
        rule = self.policy.classifier
        for reasons, probability in zip(found, profanity, strict=True):
            if probability >= rule.threshold:
                reasons.append(
                    Reason(category=CLASSIFIER_CATEGORY, rule="classifier:alt-profanity-check",
                           score=round(float(probability), 4), field="prompt",
                           action=rule.action)
                )  # fmt: skip
        if self._model is not None:
            combined = self._combined_reasons([p for p, _ in prompts], found, profanity, texts)
            weighed = {*self._model.unsafe_classes, CLASSIFIER_CATEGORY}
            for i, reasons in enumerate(found):
                found[i] = [
                    r.model_copy(update={"action": "allow"})
                    if r.field == "prompt" and self.weighs_as(r.category) in weighed else r
                    for r in reasons
                ]  # fmt: skip
                if (decision := combined[i]) is not None:
                    found[i].append(decision)
        verdicts = []
        for text, reasons in zip(texts, found, strict=True):
            reasons.sort(key=lambda r: (SEVERITY[r.action], r.score), reverse=True)
            top = reasons[0] if reasons else None
            verdicts.append(
                Verdict(
                    action=top.action if top else "allow",
                    category=top.category if top else None,
                    rule=top.rule if top else None,
                    score=top.score if top else 0.0,
                    normalized_text=text,
                    reasons=reasons,
                )
            )
        return verdicts

    def check(self, prompt: str, negative_prompt: str = "") -> Verdict:
        return self.check_many([(prompt, negative_prompt)])[0]
