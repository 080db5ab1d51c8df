"""Fold an inference BatchNormalization into the preceding Conv / ConvTranspose / Gemm.

Before: y = BN(Conv(x, W, B)).  After: y = Conv(x, W * s, (B - mean) * s + beta) with
s = gamma / sqrt(var + eps), per output channel. Only when the conv output feeds the BN
alone and every parameter is a stored weight.
"""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node
from ..naming import fresh
from .match import Matcher
from ..ir.optable import attr_value

_FOLDABLE = ("Conv", "ConvTranspose", "Gemm")


def fold_batchnorm(graph: Graph) -> tuple[Graph, list[str]]:
    m = Matcher(graph)
    dropped: set[int] = set()
    changes = []
    for bn in graph.nodes:
        chain = m.chain(bn, _FOLDABLE) if bn.op == "BatchNormalization" else None
        if chain is None or not _foldable(graph, chain[0], bn):
            continue
        _fold(graph, chain[0], bn)
        dropped.add(id(bn))
        changes.append(f"folded {bn.name} into {chain[0].name}")
    graph.nodes = [n for n in graph.nodes if id(n) not in dropped]
    if changes:
        used = {i for n in graph.nodes for i in n.inputs}
        graph.weights = {k: v for k, v in graph.weights.items() if k in used}
    return graph, changes


def _foldable(graph: Graph, prev: Node, bn: Node) -> bool:
    """Every parameter is a stored weight, and a Gemm is a plain x @ B (+ C)."""
    if any(i not in graph.weights for i in bn.inputs[1:5]):
        return False
    if prev.inputs[1] not in graph.weights or (len(prev.inputs) > 2 and prev.inputs[2] and prev.inputs[2] not in graph.weights):
        return False
    return not (prev.op == "Gemm" and (attr_value(prev, "transA") or attr_value(prev, "alpha") != 1.0
                                       or attr_value(prev, "beta") != 1.0))


def _fold(graph: Graph, prev: Node, bn: Node) -> None:
    """``prev`` computes BN(prev) with new weights and takes over the BN's output."""
    gamma, beta, mean, var = (graph.weights[i].astype(np.float64) for i in bn.inputs[1:5])
    s = gamma / np.sqrt(var + attr_value(bn, "epsilon"))
    w = scale_output_channels(prev, graph.weights[prev.inputs[1]].astype(np.float64), s)
    b = graph.weights[prev.inputs[2]].astype(np.float64) if len(prev.inputs) > 2 and prev.inputs[2] else 0.0
    nb = (b - mean) * s + beta
    dtype = graph.weights[prev.inputs[1]].dtype
    wname = _fresh(graph, prev.inputs[1] + "_bnfold")
    bname = _fresh(graph, prev.name + "_bias_bnfold")
    graph.weights[wname] = w.astype(dtype)
    graph.weights[bname] = nb.astype(dtype)
    prev.inputs = [prev.inputs[0], wname, bname]
    prev.outputs = [bn.outputs[0]]


def scale_output_channels(node: Node, w: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``w`` of a Conv / ConvTranspose / Gemm ``node`` with output channel c scaled by s[c]."""
    if node.op == "Conv":  # (M, C/g, *k)
        return w * s.reshape((-1,) + (1,) * (w.ndim - 1))
    if node.op == "ConvTranspose":  # (C, M/g, *k): output channel = group * M/g + j
        g = attr_value(node, "group")
        cin, mpg = w.shape[0], w.shape[1]
        return (w.reshape((g, cin // g, mpg) + w.shape[2:]) * s.reshape((g, 1, mpg) + (1,) * (w.ndim - 2))).reshape(w.shape)
    # Gemm: B is (out, in) with transB=1, else (in, out)
    return w * (s[:, None] if attr_value(node, "transB") else s[None, :])


def _fresh(graph: Graph, base: str) -> str:
    name = fresh(base, graph.weights)
    return name
