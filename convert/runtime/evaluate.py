"""Evaluate one IR node whose inputs are all stored weights: the evaluator the API hands
to the constant-folding pass. The node runs as a one-node ONNX model in onnxruntime, so
folding uses the same semantics as the exported graph."""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node, Value

FOLD_OPSET = 17  # every op worth folding exists at this opset


def evaluate_node(graph: Graph, node: Node) -> list[np.ndarray] | None:
    """The node's outputs, or None where it cannot be evaluated alone (a dtype guess or
    an op onnxruntime rejects): the caller then leaves the node in place."""
    import onnxruntime as ort

    from ..exporters.onnx import to_onnx

    weights = {i: graph.weights[i] for i in node.inputs if i}
    known = [graph.value_info(o) for o in node.outputs if o]
    # Without recorded output dtypes, guess float32, then the first input's dtype, then bool (a
    # Reshape/Transpose/Gather of an int64 index buffer keeps its dtype; a comparison gives bool)
    first = str(graph.weights[node.inputs[0]].dtype) if node.inputs and node.inputs[0] else "float32"
    guesses = dict.fromkeys(["float32", first, "bool"]) if any(k is None for k in known) else {"float32": None}
    for guess in guesses:
        outs = [Value(o, k.dtype if k is not None else guess) for o, k in zip([o for o in node.outputs if o], known)]
        try:
            model = to_onnx(Graph("fold", [], outs, [node], weights), FOLD_OPSET)
            so = ort.SessionOptions()
            so.log_severity_level = 4
            sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
            return sess.run(None, {})
        except Exception:  # noqa: BLE001  (see the docstring)
            continue
    return None
