"""Evaluate nodes whose inputs are all stored weights, once, at conversion time.

Before: w2 = Reshape(w, [C, 1, 1]); y = PRelu(x, w2).  After: y = PRelu(x, w2') with
w2' a stored weight. Each foldable node is run as a one-node ONNX model in
onnxruntime, so folding uses the same semantics as the exported graph.
"""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node

# Ops worth folding; recurrent and random ops never are.
_SKIP = {"LSTM", "GRU", "RNN", "Dropout"}
MAX_FOLD_BYTES = 64 * 2**20  # do not materialise huge broadcast results


def _evaluate(graph: Graph, node: Node) -> list[np.ndarray] | None:
    import onnxruntime as ort

    from ..exporters.onnx import to_onnx
    from ..ir.graph import Value

    sub = Graph("fold", [], [Value(o, "float32") for o in node.outputs if o],
                [node], {i: graph.weights[i] for i in node.inputs if i})
    for v in sub.outputs:
        info = graph.value_info(v.name)
        if info is not None:
            v.dtype = info.dtype
    try:
        model = to_onnx(sub, 17)
        so = ort.SessionOptions()
        so.log_severity_level = 4
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        return sess.run(None, {})
    except Exception:  # a dtype guess or an op we cannot evaluate alone: leave the node in place
        return None


def fold_constants(graph: Graph) -> tuple[Graph, list[str]]:
    changes = []
    keep = []
    outputs = {v.name for v in graph.outputs}
    for n in graph.nodes:
        foldable = (n.op not in _SKIP and n.inputs and all(i in graph.weights for i in n.inputs if i)
                    and not any(o in outputs for o in n.outputs)
                    and sum(graph.weights[i].nbytes for i in n.inputs if i) <= MAX_FOLD_BYTES)
        if n.op == "Constant":
            foldable = not any(o in outputs for o in n.outputs)
        if foldable:
            if n.op == "Constant":
                results = [graph.weights[n.attrs["weight"]]]
            else:
                results = _evaluate(graph, n)
            if results is not None and all(r.nbytes <= MAX_FOLD_BYTES for r in results):
                for o, r in zip([o for o in n.outputs if o], results):
                    graph.weights[o] = np.ascontiguousarray(r)
                changes.append(f"folded {n.op} {n.name}")
                continue
        keep.append(n)
    graph.nodes = keep
    if changes:
        used = {i for n in graph.nodes for i in n.inputs} | outputs
        graph.weights = {k: v for k, v in graph.weights.items() if k in used}
    return graph, changes
