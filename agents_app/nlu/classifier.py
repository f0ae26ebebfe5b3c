"""The intent classifier: how it is trained, stored, loaded and asked.

Logistic regression over TF-IDF word and character n-grams (wording, typos) answers alone when
it is sure (TFIDF_SURE); otherwise three voters' probabilities are averaged: that model,
logistic regression over all-MiniLM-L6-v2 sentence embeddings (meaning), and the nearest
training examples in that embedding space.
"""

import copy
import hashlib
import itertools
import os
import tempfile
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Self

import numpy as np
import sklearn
import skops.io
from sklearn.decomposition import PCA
from sklearn.exceptions import InconsistentVersionWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from threadpoolctl import threadpool_limits

from agents_app.nlu.data import DATA_DIR
from agents_app.nlu.encoder import (
    ENCODER_LAYERS,
    SentenceEncoder,
    _encode_all,
    _shared_encoder,
    _vocab,
    encoder_model,
)

# Changing the features or models below, or the encoder's (encoder.py), changes what an
# artifact means: bump this so that a model trained by older code is retrained rather than trusted.
MODEL_FORMAT = "tfidf-lr+minilm-l6-layers456-lr+knn10-pca128/3"
# Weight of the sentence-embedding model in the average (the TF-IDF model gets the rest),
# chosen by 5-fold cross-validation on BANKING77's training split (docs/nlu.md).
EMBEDDING_WEIGHT = 0.6
# Then a vote of the nearest training examples (cosine similarity of the last layer, reduced to
# 128 dimensions to keep the search at ~0.2 ms) takes this share: +0.3 points.
NEIGHBOURS_WEIGHT = 0.2
NEIGHBOURS = 10
NEIGHBOURS_DIMENSIONS = 128
NEIGHBOURS_TEMPERATURE = 0.05
# The TF-IDF model answers alone when it gives a label at least this probability: it is then
# right as often as the whole ensemble (98 % of the time on BANKING77), and the sentence
# encoder, 90 % of the cost of a prediction, runs for the other quarter of messages only.
# Chosen by 5-fold cross-validation (docs/nlu.md): accuracy 93.18 % against 93.23 % with the
# encoder on every message; 0.9 keeps 93.21 % but encodes half the messages.
TFIDF_SURE = 0.7


@dataclass(frozen=True)
class IntentPrediction:
    intent: str
    confidence: float
    alternatives: list[tuple[str, float]]


class IntentClassifier(Protocol):
    def predict(self, text: str) -> IntentPrediction: ...


def _fingerprint(examples: Iterable[tuple[str, str]]) -> str:
    digest = hashlib.sha256(MODEL_FORMAT.encode())
    digest.update((DATA_DIR / "minilm_vocab.txt").read_bytes())
    for text, intent in examples:
        digest.update(f"{intent}\t{text}\n".encode())
    return digest.hexdigest()


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
    probabilities averaged, or the TF-IDF model's alone when it is sure."""

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
        # probabilities() scores each vectorizer's terms against its own slice of the weights
        # (_TermScorer) instead of calling pipeline.predict_proba: scikit-learn's transform
        # re-validates its input and builds sparse matrices, 1-2 ms a message where the
        # arithmetic takes 0.1 ms. Same numbers (a test compares them).
        vectorizers = [v for _, v in self.pipeline.named_steps["features"].transformer_list]
        bounds = np.cumsum([0, *(len(v.vocabulary_) for v in vectorizers)])
        self._term_scorers = [
            _TermScorer(vectorizer, model.coef_[:, start:stop].T)
            for vectorizer, (start, stop) in zip(
                vectorizers, itertools.pairwise(bounds), strict=True
            )
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
        tfidf = _softmax(self._tfidf_scores(text))
        if tfidf.max() >= TFIDF_SURE:
            return tfidf
        return self._combine(tfidf, self.encoder.encode(text))

    def _tfidf_scores(self, text: str) -> np.ndarray:
        scores = self._intercept.copy()
        for scorer in self._term_scorers:
            scores += scorer.scores(text)
        return scores

    # Products below use einsum, numpy's own single-threaded loop, not BLAS: OpenBLAS spreads
    # products this size over threads, which on a busy server doubled the CPU time per message
    # (p99 8 ms against 4 ms) and gave nothing on an idle one.

    def _combine(self, tfidf: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """The three voters' average, from the TF-IDF probabilities and the encoded message."""
        embedding_scores = (
            np.einsum("i,ij->j", vector.astype(np.float64), self._embedding_weights)
            + self._embedding_intercept
        )
        models = (1 - EMBEDDING_WEIGHT) * tfidf + EMBEDDING_WEIGHT * _softmax(embedding_scores)
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
        tfidf = [_softmax(self._tfidf_scores(text)) for text in texts]
        unsure = [i for i, p in enumerate(tfidf) if p.max() < TFIDF_SURE]
        vectors = _encode_all(self.encoder, [texts[i] for i in unsure])
        for i, vector in zip(unsure, vectors, strict=True):
            tfidf[i] = self._combine(tfidf[i], vector)
        return np.array(tfidf)

    def predict(self, text: str) -> IntentPrediction:
        return self._prediction(self.probabilities(text))

    def _prediction(self, probabilities: np.ndarray) -> IntentPrediction:
        ranked = np.argsort(probabilities)[::-1][:4]
        top, *rest = ((self.intents[i], float(probabilities[i])) for i in ranked)
        return IntentPrediction(intent=top[0], confidence=top[1], alternatives=rest)


class _TermScorer:
    """A fitted TfidfVectorizer's features of one text, times a weight matrix.

    The vectorizer's own analyzer, vocabulary and IDF weights, and its arithmetic: term
    counts, 1 + log for sublinear TF, times IDF, scaled to length 1 (`norm="l2"`).
    """

    def __init__(self, vectorizer: TfidfVectorizer, weights: np.ndarray) -> None:
        if vectorizer.norm != "l2" or not vectorizer.use_idf or vectorizer.binary:
            raise ValueError("_TermScorer reproduces l2-normalised TF-IDF of counts only")
        self._analyze = vectorizer.build_analyzer()
        self._vocabulary: dict[str, int] = vectorizer.vocabulary_
        self._idf: np.ndarray = vectorizer.idf_
        self._sublinear: bool = vectorizer.sublinear_tf
        self._weights = np.ascontiguousarray(weights)

    def scores(self, text: str) -> np.ndarray:
        vocabulary = self._vocabulary
        terms = (vocabulary.get(term) for term in self._analyze(text))
        counts = Counter(i for i in terms if i is not None)
        if not counts:
            return np.zeros(self._weights.shape[1])
        columns = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        values = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        if self._sublinear:
            values = np.log(values) + 1
        values *= self._idf[columns]
        values /= np.sqrt(np.einsum("i,i->", values, values))
        return np.einsum("i,ij->j", values, self._weights[columns])


def _last_layer(vectors: np.ndarray) -> np.ndarray:
    return vectors[:, -vectors.shape[1] // ENCODER_LAYERS :]


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def _softmax(scores: np.ndarray) -> np.ndarray:
    exp = np.exp(scores - scores.max())
    return exp / exp.sum()


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
