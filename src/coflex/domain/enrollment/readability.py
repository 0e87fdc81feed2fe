"""Readability and plain-language checks for customer documents.

The Flesch-Kincaid grade and Flesch Reading Ease are computed from counts of
sentences, words and syllables. Syllables come from the Pyphen hyphenation
dictionary for US English (a word has one more syllable than hyphenation
points), the same method as textstat 0.7.3; it runs offline, whereas later
textstat releases download a pronunciation dictionary at run time.

References
----------
Kincaid, J. P., Fishburne, R. P., Rogers, R. L. and Chissom, B. S. (1975),
"Derivation of new readability formulas for Navy enlisted personnel",
Research Branch Report 8-75: grade = 0.39 W/S + 11.8 Y/W - 15.59.
Flesch, R. (1948), "A new readability yardstick", Journal of Applied
Psychology 32(3): ease = 206.835 - 1.015 W/S - 84.6 Y/W.
NIH guidance for patient material: grade 8 or lower (PMC6334864).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import pyphen

from coflex.errors import ReadabilityError

MAX_GRADE = 8.0
# Two printed pages of 10-point type hold about 1,100 words; Key Facts keep
# below that so the PDF rendering fits in two pages.
MAX_KEY_FACTS_WORDS = 1_000

_DICTIONARY = pyphen.Pyphen(lang="en_US")
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’.,-][A-Za-z0-9]+)*")
_SENTENCE_END = re.compile(r"[.!?:;]+(?=\s|$)|\n\s*\n|\n\s*[-•*]")


@dataclass(frozen=True)
class Readability:
    """Counts and scores of one text.

    Attributes
    ----------
    sentences, words, syllables : int
        Counts; list items and headings count as sentences.
    grade : float
        Flesch-Kincaid grade level [US school grade].
    reading_ease : float
        Flesch Reading Ease [0-100, higher is easier].
    """

    sentences: int
    words: int
    syllables: int
    grade: float
    reading_ease: float


@lru_cache(maxsize=50_000)
def syllables_in(word: str) -> int:
    """Count the syllables of one word from its hyphenation points."""
    if any(ch.isdigit() for ch in word):
        # A number is read as one word per digit group ("2.2" is "two point two").
        return max(1, len(re.findall(r"\d+", word)))
    return len(_DICTIONARY.positions(word.lower())) + 1


def measure(text: str) -> Readability:
    """Count sentences, words and syllables in ``text`` and score it."""
    words = _WORD.findall(text)
    pieces = [p for p in _SENTENCE_END.split(text) if _WORD.search(p)]
    n_sentences = max(1, len(pieces))
    n_words = max(1, len(words))
    n_syllables = sum(syllables_in(word) for word in words)
    per_sentence = n_words / n_sentences
    per_word = n_syllables / n_words
    return Readability(
        sentences=n_sentences,
        words=len(words),
        syllables=n_syllables,
        grade=round(0.39 * per_sentence + 11.8 * per_word - 15.59, 2),
        reading_ease=round(206.835 - 1.015 * per_sentence - 84.6 * per_word, 2),
    )


def check_plain_language(
    text: str,
    *,
    document: str,
    max_grade: float = MAX_GRADE,
    max_words: int = MAX_KEY_FACTS_WORDS,
) -> Readability:
    """Measure ``text`` and raise if it is too hard or too long.

    Raises
    ------
    ReadabilityError
        If the Flesch-Kincaid grade is above ``max_grade`` or the text has more
        than ``max_words`` words.
    """
    result = measure(text)
    if result.grade > max_grade:
        raise ReadabilityError(
            f"{document} reads at Flesch-Kincaid grade {result.grade:.1f}, above "
            f"the limit of {max_grade:.0f}: use shorter sentences and words",
            value=result.grade,
            field="grade",
        )
    if result.words > max_words:
        raise ReadabilityError(
            f"{document} has {result.words} words, more than the {max_words} that "
            "fit on two printed pages: move detail to the detailed terms",
            value=result.words,
            field="words",
        )
    return result


@lru_cache(maxsize=16)
def _term_pattern(technical_terms: frozenset[str]) -> re.Pattern[str]:
    alternatives = "|".join(
        re.escape(term.lower()) for term in sorted(technical_terms, key=len)[::-1]
    )
    return re.compile(r"(?<![a-z])(" + alternatives + r")(?![a-z])")


def unexplained_terms(
    text: str, technical_terms: frozenset[str], glossary: dict[str, str]
) -> list[str]:
    """Return the technical terms used in ``text`` that the glossary does not explain.

    A term counts as used when it appears as a whole word, in any letter case.
    """
    by_lower = {term.lower(): term for term in technical_terms}
    used = {
        by_lower[match]
        for match in _term_pattern(technical_terms).findall(text.lower())
    }
    return sorted(term for term in used if term not in glossary)


def check_glossary(
    text: str,
    technical_terms: frozenset[str],
    glossary: dict[str, str],
    *,
    document: str,
) -> None:
    """Raise if ``text`` uses a technical term that it neither avoids nor explains.

    Raises
    ------
    ReadabilityError
        Naming the first unexplained terms.
    """
    missing = unexplained_terms(text, technical_terms, glossary)
    if missing:
        raise ReadabilityError(
            f"{document} uses technical terms without explaining them: "
            f"{', '.join(missing)}; add each to the glossary or reword it",
            value=missing,
            field="glossary",
        )
