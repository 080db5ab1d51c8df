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

    sub = Graph("fold", [], [Value(o, "float32") for o in node.outputs if o],
                [node], {i: graph.weights[i] for i in node.inputs if i})
    for v in sub.outputs:
        info = graph.value_info(v.name)
        if info is not None:
            v.dtype = info.dtype
    try:
        model = to_onnx(sub, FOLD_OPSET)
        so = ort.SessionOptions()
        so.log_severity_level = 4
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        return sess.run(None, {})
    except Exception:  # noqa: BLE001  (see the docstring)
        return None
