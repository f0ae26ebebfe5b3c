"""The NLU agent: which intent a message expresses, from a small trained text classifier."""

import csv
import hashlib
import itertools
import logging
import os
import tempfile
import threading
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self

import numpy as np
import sklearn
import skops.io
from django.conf import settings
from sklearn.exceptions import InconsistentVersionWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import FeatureUnion, Pipeline
from threadpoolctl import threadpool_limits

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "nlu_data"

INTENTS: tuple[str, ...] = (
    "balance_check",
    "transaction_history",
    "money_transfer",
    "card_info",
    "card_block",
    "card_unblock",
    "loan_info",
    "bill_payment",
    "account_info",
    "banking_help",
    "greeting",
    "farewell",
    "help",
    "affirmation",
    "negation",
    "thanks",
    "human_handoff",
)


@dataclass(frozen=True)
class IntentPrediction:
    intent: str
    confidence: float
    alternatives: list[tuple[str, float]]


class IntentClassifier(Protocol):
    def predict(self, text: str) -> IntentPrediction: ...


def training_examples() -> list[tuple[str, str]]:
    """(text, intent) pairs from agents_app/nlu_data/, always in the same order."""
    return [*_own_examples(), *_banking77_examples()]


def _own_examples() -> list[tuple[str, str]]:
    with (DATA_DIR / "intents.csv").open(newline="", encoding="utf-8") as f:
        return [(row["text"], row["intent"]) for row in csv.DictReader(f)]


def _banking77_examples() -> list[tuple[str, str]]:
    # banking77_intents.csv says which of our intents each BANKING77 category counts as
    # (blank: unused) and how many of its rows to take (blank: all), so a category's rows
    # do not swamp the smaller hand-written intents. Widening to all 77 intents is a matter
    # of editing that file.
    with (DATA_DIR / "banking77_intents.csv").open(newline="", encoding="utf-8") as f:
        mapping = {row["category"]: row for row in csv.DictReader(f) if row["intent"]}
    by_category: dict[str, list[str]] = {category: [] for category in mapping}
    with (DATA_DIR / "banking77_train.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["category"] in by_category:
                by_category[row["category"]].append(row["text"])
    examples = []
    for category, row in mapping.items():
        texts = by_category[category]
        if row["rows"]:
            # Evenly spaced rather than the first n: the file groups similar phrasings.
            n = min(int(row["rows"]), len(texts))
            texts = [texts[i * len(texts) // n] for i in range(n)]
        examples.extend((text, row["intent"]) for text in texts)
    return examples


def _fingerprint(examples: Iterable[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for text, intent in examples:
        digest.update(f"{intent}\t{text}\n".encode())
    return digest.hexdigest()


def _pipeline(seed: int) -> Pipeline:
    # Word n-grams carry meaning ("block" vs "unblock"); character n-grams within words carry
    # typos and short forms ("blokc", "thx"). Sublinear TF keeps repeated words from dominating.
    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
            (
                "chars",
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
            ),
        ]
    )
    # Balanced class weights: BANKING77 makes some intents several times larger than others.
    model = LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000, random_state=seed)
    return Pipeline([("features", features), ("model", model)])


def cross_validated_accuracy(
    examples: Iterable[tuple[str, str]], *, folds: int = 5, seed: int = 0
) -> float:
    """Mean accuracy of stratified k-fold cross-validation on the given examples."""
    texts, intents = zip(*examples, strict=True)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with threadpool_limits(limits=1):
        scores = cross_val_score(_pipeline(seed), list(texts), list(intents), cv=splitter)
    return float(np.mean(scores))


class TrainedIntentClassifier:
    """TF-IDF over word and character n-grams, then multinomial logistic regression."""

    def __init__(self, pipeline: Pipeline, *, data_fingerprint: str) -> None:
        self.pipeline = pipeline
        self.data_fingerprint = data_fingerprint
        self.intents: tuple[str, ...] = tuple(str(intent) for intent in pipeline.classes_)
        # predict() scores each vectorizer's sparse row against its own slice of the weights
        # instead of calling pipeline.predict_proba: that skips FeatureUnion's sparse hstack
        # and repeated input checks, halving the time per message. Same numbers.
        model: LogisticRegression = pipeline.named_steps["model"]
        self._vectorizers: list[TfidfVectorizer] = [
            vectorizer for _, vectorizer in pipeline.named_steps["features"].transformer_list
        ]
        bounds = np.cumsum([0, *(len(v.vocabulary_) for v in self._vectorizers)])
        self._weights = [
            np.ascontiguousarray(model.coef_[:, start:stop].T)
            for start, stop in itertools.pairwise(bounds)
        ]
        self._intercept: np.ndarray = model.intercept_

    @classmethod
    def train(cls, examples: Iterable[tuple[str, str]], *, seed: int = 0) -> Self:
        examples = list(examples)
        texts, intents = zip(*examples, strict=True)
        # One BLAS thread: the problem is too small for more to pay off (on two cores they
        # made training three times slower), and one thread always sums in the same order.
        with threadpool_limits(limits=1):
            pipeline = _pipeline(seed).fit(list(texts), list(intents))
        return cls(pipeline, data_fingerprint=_fingerprint(examples))

    @classmethod
    def load(cls, path: Path) -> Self:
        # skops, unlike pickle, builds only types it trusts by default (scikit-learn, NumPy,
        # SciPy, builtins), which is all a pipeline holds: an artifact naming anything else
        # is refused rather than executed. A model from another scikit-learn may predict
        # differently or not at all, so that is refused too (the caller retrains).
        with warnings.catch_warnings():
            warnings.simplefilter("error", InconsistentVersionWarning)
            state = skops.io.load(path)
        if state["sklearn_version"] != sklearn.__version__:
            raise ValueError(
                f"{path} was trained with scikit-learn {state['sklearn_version']}, "
                f"this is {sklearn.__version__}: run `manage.py train_nlu`"
            )
        return cls(state["pipeline"], data_fingerprint=state["data_fingerprint"])

    def save(self, path: Path) -> None:
        state = {
            "pipeline": self.pipeline,
            "sklearn_version": sklearn.__version__,
            "data_fingerprint": self.data_fingerprint,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a process starting meanwhile never reads half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        os.close(fd)
        try:
            skops.io.dump(state, tmp, compression=zipfile.ZIP_DEFLATED)
            # mkstemp made it owner-only; the model is no secret and the server may run as
            # another user than the build step.
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def probabilities(self, text: str) -> np.ndarray:
        """One probability per intent, in the order of `intents`."""
        scores = self._intercept.copy()
        for vectorizer, weights in zip(self._vectorizers, self._weights, strict=True):
            scores += (vectorizer.transform([text]) @ weights)[0]
        exp = np.exp(scores - scores.max())
        return exp / exp.sum()

    def predict(self, text: str) -> IntentPrediction:
        probabilities = self.probabilities(text)
        ranked = np.argsort(probabilities)[::-1][:4]
        top, *rest = ((self.intents[i], float(probabilities[i])) for i in ranked)
        return IntentPrediction(intent=top[0], confidence=top[1], alternatives=rest)


def model_path() -> Path:
    """Where `manage.py train_nlu` writes the model and the app looks for it."""
    return Path(getattr(settings, "NLU_MODEL_PATH", settings.BASE_DIR / "var" / "nlu-model.skops"))


_default: TrainedIntentClassifier | None = None
_default_lock = threading.Lock()


def default_classifier() -> TrainedIntentClassifier:
    """The process-wide classifier: the trained artifact if there is a current one."""
    global _default
    if _default is None:
        # Double-checked so that concurrent first requests load or train only once.
        with _default_lock:
            if _default is None:
                _default = _load_or_train()
    return _default


def _load_or_train() -> TrainedIntentClassifier:
    path = model_path()
    examples = training_examples()
    if path.exists():
        try:
            classifier = TrainedIntentClassifier.load(path)
        except Exception:
            logger.warning("NLU model %s is unusable, training in memory", path, exc_info=True)
        else:
            if classifier.data_fingerprint == _fingerprint(examples):
                return classifier
            logger.warning("NLU model %s predates the training data, training in memory", path)
    else:
        logger.info("No NLU model at %s, training in memory (run `manage.py train_nlu`)", path)
    return TrainedIntentClassifier.train(examples)


@dataclass(frozen=True)
class NluResult:
    intent: str
    confidence: float
    alternatives: list[tuple[str, float]]
    needs_clarification: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "confidence": self.confidence,
            "alternatives": [
                {"intent": intent, "confidence": confidence}
                for intent, confidence in self.alternatives
            ],
            "needs_clarification": self.needs_clarification,
        }


class NluAgent:
    """Names the intent of a message, and says when it is too unsure to act on it."""

    name = "nlu"

    def __init__(self, *, classifier: IntentClassifier, threshold: float = 0.45) -> None:
        self.classifier = classifier
        self.threshold = threshold

    @property
    def intents(self) -> tuple[str, ...]:
        return getattr(self.classifier, "intents", INTENTS)

    def understand(self, text: str) -> NluResult:
        prediction = self.classifier.predict(text)
        return NluResult(
            intent=prediction.intent,
            confidence=prediction.confidence,
            alternatives=prediction.alternatives,
            needs_clarification=prediction.confidence < self.threshold,
        )
