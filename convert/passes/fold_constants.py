"""Evaluate nodes whose inputs are all stored weights, once, at conversion time.

Before: w2 = Reshape(w, [C, 1, 1]); y = PRelu(x, w2).  After: y = PRelu(x, w2') with
w2' a stored weight. The caller supplies the evaluator (the API passes
``convert.runtime.evaluate.evaluate_node``, which runs the node in onnxruntime); without
one only Constant nodes are folded, so the IR never depends on a runtime.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..ir.graph import Graph, Node

# (graph, node) -> the node's outputs, or None where it cannot be evaluated alone
Evaluator = Callable[[Graph, Node], "list[np.ndarray] | None"]

# Ops worth folding; recurrent and random ops never are.
_SKIP = {"LSTM", "GRU", "RNN", "Dropout"}
MAX_FOLD_BYTES = 64 * 2**20  # do not materialise huge broadcast results


def fold_constants(graph: Graph, evaluate: Evaluator | None = None) -> tuple[Graph, list[str]]:
    changes = []
    keep = []
    outputs = {v.name for v in graph.outputs}
    for n in graph.nodes:
        results = _results(graph, n, outputs, evaluate)
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


def _results(graph: Graph, n: Node, outputs: set[str], evaluate: Evaluator | None) -> list[np.ndarray] | None:
    """The outputs of ``n`` where it can be folded, else None."""
    if any(o in outputs for o in n.outputs):
        return None
    if n.op == "Constant":
        return [graph.weights[n.attrs["weight"]]]
    foldable = (evaluate is not None and n.op not in _SKIP and n.inputs
                and all(i in graph.weights for i in n.inputs if i)
                and sum(graph.weights[i].nbytes for i in n.inputs if i) <= MAX_FOLD_BYTES)
    return evaluate(graph, n) if foldable else None  # type: ignore[misc]  (None excluded above)
