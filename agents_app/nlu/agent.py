"""The NLU agent: the intent a message expresses, and whether it is too unsure to act on it."""

from dataclasses import dataclass
from typing import Any

from agents_app.nlu.classifier import IntentClassifier
from agents_app.nlu.data import INTENTS, OUT_OF_SCOPE, banking77_routes, routed_intent


@dataclass(frozen=True)
class NluResult:
    intent: str
    confidence: float
    alternatives: list[tuple[str, float]]
    needs_clarification: bool
    # The best-ranked BANKING77 category of the intent ("lost_or_stolen_card" for card_block),
    # when one is among the top labels.
    topic: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "confidence": self.confidence,
            "alternatives": [
                {"intent": intent, "confidence": confidence}
                for intent, confidence in self.alternatives
            ],
            "needs_clarification": self.needs_clarification,
            "topic": self.topic,
        }


class NluAgent:
    """Names the intent of a message, and says when it is too unsure to act on it."""

    name = "nlu"

    def __init__(self, *, classifier: IntentClassifier, threshold: float = 0.45) -> None:
        self.classifier = classifier
        self.threshold = threshold

    @property
    def intents(self) -> tuple[str, ...]:
        labels = getattr(self.classifier, "intents", INTENTS)
        return tuple(dict.fromkeys(routed_intent(label) for label in labels))

    def understand(self, text: str) -> NluResult:
        prediction = self.classifier.predict(text)
        intent = routed_intent(prediction.intent)
        # How sure the intent is, not the category: "where's my card?" may be card_arrival or
        # card_delivery_estimate, but it is banking_help either way. Alternatives are other
        # intents, not other categories of the same one.
        confidence = prediction.confidence
        alternatives: dict[str, float] = {}
        for label, probability in prediction.alternatives:
            other = routed_intent(label)
            if other == intent:
                confidence += probability
            elif other not in alternatives:
                alternatives[other] = probability
        return NluResult(
            intent=intent,
            confidence=min(confidence, 1.0),
            alternatives=list(alternatives.items()),
            needs_clarification=(
                confidence < self.threshold
                or intent == OUT_OF_SCOPE
                # Nothing but punctuation, emoji or space: the models would still pick a label.
                or not any(char.isalnum() for char in text)
            ),
            topic=next(
                (
                    label
                    for label, _ in [(prediction.intent, 0.0), *prediction.alternatives]
                    if label in banking77_routes() and routed_intent(label) == intent
                ),
                None,
            ),
        )
