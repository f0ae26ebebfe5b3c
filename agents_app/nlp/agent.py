"""The NLP agent: language, keywords, sentiment and entities of one message."""

import datetime
from collections.abc import Callable

from django.utils import timezone

from agents_app.nlp import text as text_
from agents_app.nlp.dates import find_dates
from agents_app.nlp.mentions import find_accounts, find_cards, find_parties
from agents_app.nlp.money import find_money
from agents_app.nlp.result import NlpResult, Spans

# Entity types whose words say nothing about the topic ("last", "month", "50").
_NOT_KEYWORDS = {"money", "date", "period"}
_NOT_LANGUAGE = {"money", "person", "organization"}


class NlpAgent:
    """Reads the language, keywords, sentiment and banking entities of one message."""

    name = "nlp"

    def __init__(self, *, today: Callable[[], datetime.date] | None = None):
        self._today = today or timezone.localdate

    def analyze(self, text: str) -> NlpResult:
        sentiment, score = text_.sentiment(text)
        spans = Spans()
        # Order matters: each finder skips what an earlier one claimed, so "credit card account"
        # is no card, "card ending 2024" no year and "the 5th" not five of something.
        entities = [
            *find_accounts(text, spans),
            *find_cards(text, spans),
            *find_dates(text, self._today(), spans),
            *find_money(text, spans),
            *find_parties(text, spans),
        ]
        not_keywords = [(e.start, e.end) for e in entities if e.type in _NOT_KEYWORDS]
        # Names and amounts say nothing about the language: "send 50 to Maria Garcia" is English.
        language = text_.detect_language(
            _blank(text, [(e.start, e.end) for e in entities if e.type in _NOT_LANGUAGE])
        )
        return NlpResult(
            language=language,
            keywords=text_.keywords(text, language, not_keywords),
            sentiment=sentiment,
            sentiment_score=score,
            entities=sorted(entities, key=lambda entity: entity.start),
        )


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    for start, end in spans:
        text = text[:start] + " " * (end - start) + text[end:]
    return text
