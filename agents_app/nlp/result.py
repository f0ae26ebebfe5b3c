"""What the NLP agent hands to the rest of the pipeline."""

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Entity:
    """One thing found in a message, with its span and a normalised, JSON-ready value."""

    type: str  # "money" | "date" | "period" | "account" | "card" | "person" | "organization"
    text: str
    start: int
    end: int
    value: dict

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class NlpResult:
    language: str  # ISO 639-1, or "und"
    keywords: list[str]
    sentiment: str  # "positive" | "neutral" | "negative"
    sentiment_score: float  # -1..1
    entities: list[Entity]

    def as_dict(self) -> dict:
        return {
            "language": self.language,
            "keywords": list(self.keywords),
            "sentiment": self.sentiment,
            "sentimentScore": self.sentiment_score,
            "entities": [entity.as_dict() for entity in self.entities],
        }

    def first(self, type_: str) -> Entity | None:
        return next((entity for entity in self.entities if entity.type == type_), None)


class Spans:
    """Character ranges already claimed by an entity, so later rules cannot reuse them."""

    def __init__(self) -> None:
        self._taken: list[tuple[int, int]] = []

    def free(self, start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in self._taken)

    def take(self, start: int, end: int) -> None:
        self._taken.append((start, end))
