"""MiniLM's weights, and an ONNX graph of its encoder built for what serving asks of it.

The graph exported with the package serves any batch: it pads, so every layer builds and
applies an attention mask, and it computes shapes at run time; about 300 nodes, a third of
them shape arithmetic. Serving encodes one message at a time with no padding, so the graph
here has no mask, no batch, the attention scale folded into the query weights and mean pooling
inside: ~20 nodes a layer, ~30 % less time per message on one core (docs/nlu.md). Same weights,
same arithmetic: a test checks it against a plain numpy forward pass.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# all-MiniLM-L6-v2's shape (its config.json) and the layer norms' epsilon in its graph.
HEADS = 12
EPSILON = 1e-12
# The exported graph names parameters as Hugging Face does, under this prefix.
PREFIX = "inner."


@dataclass(frozen=True)
class MiniLMWeights:
    """Every parameter by its Hugging Face name; dense layers as [inputs, outputs] matrices."""

    tensors: Mapping[str, np.ndarray]

    @property
    def layers(self) -> int:
        return 1 + max(
            int(name.split(".")[2]) for name in self.tensors if name.startswith("encoder.layer.")
        )

    def __getitem__(self, name: str) -> np.ndarray:
        return self.tensors[name]

    @classmethod
    def from_exported(cls, model: onnx.ModelProto) -> "MiniLMWeights":
        """Read the weights out of the exported graph (after constant folding).

        The exporter gave the bias vectors their parameter names but the matrices generated
        ones; each matrix is the MatMul operand whose result is added to a named bias.
        """
        values = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
        consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in model.graph.node:
            for name in node.input:
                consumers.setdefault(name, []).append(node)
        tensors = {
            name.removeprefix(PREFIX): value
            for name, value in values.items()
            if name.startswith(PREFIX) and value.dtype == np.float32
        }
        for node in model.graph.node:
            if node.op_type != "MatMul" or node.input[1] not in values:
                continue
            for add in consumers.get(node.output[0], []):
                bias = next((n for n in add.input if n.endswith(".bias")), None)
                if add.op_type == "Add" and bias is not None:
                    stem = bias.removeprefix(PREFIX).removesuffix(".bias")
                    tensors[f"{stem}.weight"] = values[node.input[1]]
        weights = cls(tensors)
        for layer in range(weights.layers):
            for part in (
                "attention.self.query",
                "attention.self.key",
                "attention.self.value",
                "attention.output.dense",
                "intermediate.dense",
                "output.dense",
            ):
                if f"encoder.layer.{layer}.{part}.weight" not in tensors:
                    raise ValueError(f"no weight found for layer {layer}'s {part}")
        return weights


def encoder_graph(weights: MiniLMWeights, pooled_layers: int) -> onnx.ModelProto:
    """input_ids [1, tokens] -> vector [1, pooled_layers * hidden]: the mean over tokens of
    each of the last `pooled_layers` layers' outputs, side by side."""
    builder = _GraphBuilder()
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "tokens"])
    hidden = weights["embeddings.word_embeddings.weight"].shape[1]
    head_size = hidden // HEADS

    # Embeddings: every message is one segment (token type 0), so its embedding is folded into
    # the positions'.
    positions = (
        weights["embeddings.position_embeddings.weight"]
        + weights["embeddings.token_type_embeddings.weight"][0]
    )
    tokens = builder.node("Shape", ["input_ids"], start=1, end=2)
    x = builder.node(
        "Add",
        [
            builder.node(
                "Gather", [builder.const(weights["embeddings.word_embeddings.weight"]), "input_ids"]
            ),
            builder.node(
                "Slice", [builder.const(positions), builder.const([0]), tokens, builder.const([0])]
            ),
        ],
    )
    x = builder.layer_norm(x, weights, "embeddings.LayerNorm")

    outputs = []
    scale = np.float32(1 / np.sqrt(head_size))
    for layer in range(weights.layers):
        p = f"encoder.layer.{layer}."
        # One product for query, key and value; the attention scale is folded into the query.
        qkv_weight = np.concatenate(
            [
                weights[p + "attention.self.query.weight"] * scale,
                weights[p + "attention.self.key.weight"],
                weights[p + "attention.self.value.weight"],
            ],
            axis=1,
        )
        qkv_bias = np.concatenate(
            [
                weights[p + "attention.self.query.bias"] * scale,
                weights[p + "attention.self.key.bias"],
                weights[p + "attention.self.value.bias"],
            ]
        )
        qkv = builder.dense(x, qkv_weight, qkv_bias)
        # [1, T, 3H] -> [3, heads, T, head_size]
        heads = builder.node(
            "Transpose",
            [builder.node("Reshape", [qkv, builder.const([-1, 3, HEADS, head_size])])],
            perm=[1, 2, 0, 3],
        )
        query, key, value = builder.split3(heads)
        scores = builder.node("MatMul", [query, builder.node("Transpose", [key], perm=[0, 2, 1])])
        attended = builder.node("MatMul", [builder.node("Softmax", [scores], axis=-1), value])
        # [heads, T, head_size] -> [1, T, H]
        merged = builder.node(
            "Reshape",
            [builder.node("Transpose", [attended], perm=[1, 0, 2]), builder.const([1, -1, hidden])],
        )
        attention = builder.dense(
            merged,
            weights[p + "attention.output.dense.weight"],
            weights[p + "attention.output.dense.bias"],
        )
        x = builder.layer_norm(
            builder.node("Add", [x, attention]), weights, p + "attention.output.LayerNorm"
        )
        inner = builder.gelu(
            builder.dense(
                x, weights[p + "intermediate.dense.weight"], weights[p + "intermediate.dense.bias"]
            )
        )
        out = builder.dense(
            inner, weights[p + "output.dense.weight"], weights[p + "output.dense.bias"]
        )
        x = builder.layer_norm(builder.node("Add", [x, out]), weights, p + "output.LayerNorm")
        outputs.append(x)

    pooled = [
        builder.node("ReduceMean", [o, builder.const([1])], keepdims=0)
        for o in outputs[-pooled_layers:]
    ]
    vector = builder.node("Concat", pooled, axis=-1, name="vector")
    graph = helper.make_graph(
        builder.nodes,
        "minilm-one-message",
        [ids],
        [helper.make_tensor_value_info(vector, TensorProto.FLOAT, [1, pooled_layers * hidden])],
        builder.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


class _GraphBuilder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def _name(self, kind: str) -> str:
        return f"{kind}_{len(self.nodes) + len(self.initializers)}"

    def const(self, value) -> str:
        array = np.asarray(value)
        array = array.astype(np.int64 if array.dtype.kind == "i" else np.float32)
        name = self._name("c")
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], *, name: str | None = None, **attributes) -> str:
        output = name or self._name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    def split3(self, tensor: str) -> list[str]:
        outputs = [self._name(part) for part in ("query", "key", "value")]
        self.nodes.append(helper.make_node("Split", [tensor], outputs, axis=0, num_outputs=3))
        return [self.node("Squeeze", [o, self.const([0])]) for o in outputs]

    def dense(self, x: str, weight: np.ndarray, bias: np.ndarray) -> str:
        return self.node("Add", [self.node("MatMul", [x, self.const(weight)]), self.const(bias)])

    def layer_norm(self, x: str, weights: MiniLMWeights, name: str) -> str:
        scale, shift = (self.const(weights[f"{name}.{part}"]) for part in ("weight", "bias"))
        return self.node("LayerNormalization", [x, scale, shift], axis=-1, epsilon=EPSILON)

    def gelu(self, x: str) -> str:
        # BERT's exact GELU, x/2 (1 + erf(x/sqrt 2)); ONNX Runtime fuses this pattern.
        erf = self.node("Erf", [self.node("Div", [x, self.const(np.sqrt(2.0))])])
        return self.node(
            "Mul",
            [self.node("Mul", [x, self.node("Add", [erf, self.const(1.0)])]), self.const(0.5)],
        )
