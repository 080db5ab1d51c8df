"""Fold a Mul / Add by a per-channel constant into the preceding Conv / ConvTranspose / Gemm.

Before: y = Conv(x, W, B) * s + t.  After: y = Conv(x, W * s, B * s + t), s and t per
output channel (or scalars). Caffe nets spell BatchNorm as BatchNorm + Scale (a Mul and
an Add after the folded BatchNormalization); this removes both elementwise passes.
Only when the producer's output feeds the Mul/Add alone, every parameter is a stored
weight and the constant broadcasts along the channel axis only (the output shape stays).
"""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node
from ..naming import fresh
from .fold_bn import scale_output_channels
from ..ir.optable import attr_value

_FOLDABLE = ("Conv", "ConvTranspose", "Gemm")


def fold_affine(graph: Graph) -> tuple[Graph, list[str]]:
    changes: list[str] = []
    while True:  # Conv -> Mul -> Add folds in two rounds: the Add sees the Conv once the Mul is gone
        found = _fold_once(graph)
        if not found:
            break
        changes.extend(found)
    if changes:
        used = {i for n in graph.nodes for i in n.inputs}
        graph.weights = {k: v for k, v in graph.weights.items() if k in used}
    return graph, changes


def _fold_once(graph: Graph) -> list[str]:
    producers = graph.producers()
    consumers = graph.consumers()
    outputs = {v.name for v in graph.outputs}
    dropped: set[int] = set()
    changes = []
    for node in graph.nodes:
        if node.op not in ("Mul", "Add") or len(node.inputs) != 2:
            continue
        for k in (0, 1):
            x, c = node.inputs[k], node.inputs[1 - k]
            prev = producers.get(x)
            if c not in graph.weights or prev is None or id(prev) in dropped or not _foldable(graph, prev, outputs,
                                                                                           consumers):
                continue
            per_channel = _per_channel(graph, prev, graph.weights[c])
            if per_channel is None:
                continue
            _apply(graph, prev, node.op, per_channel)
            prev.outputs = [node.outputs[0]]
            dropped.add(id(node))
            changes.append(f"folded {node.op} {node.name} into {prev.name}")
            break
    graph.nodes = [n for n in graph.nodes if id(n) not in dropped]
    return changes


def _foldable(graph: Graph, prev: Node, outputs: set, consumers: dict) -> bool:
    if prev.op not in _FOLDABLE or prev.outputs[0] in outputs or len(consumers.get(prev.outputs[0], [])) != 1:
        return False
    if len(prev.inputs) < 2 or prev.inputs[1] not in graph.weights:
        return False
    if len(prev.inputs) > 2 and prev.inputs[2] and prev.inputs[2] not in graph.weights:
        return False
    if prev.op == "Gemm":
        if attr_value(prev, "transA") or attr_value(prev, "alpha") != 1.0 or attr_value(prev, "beta") != 1.0:
            return False
        if len(prev.inputs) > 2 and prev.inputs[2] and graph.weights[prev.inputs[2]].ndim > 1 \
                and graph.weights[prev.inputs[2]].shape[0] != 1:
            return False  # a per-row bias is not per channel
    return True


def _channels(graph: Graph, prev: Node) -> tuple[int, int]:
    """(number of output channels, rank of the output)."""
    w = graph.weights[prev.inputs[1]]
    if prev.op == "Conv":
        return w.shape[0], w.ndim
    if prev.op == "ConvTranspose":
        return w.shape[1] * attr_value(prev, "group"), w.ndim
    return (w.shape[0] if attr_value(prev, "transB") else w.shape[1]), 2


def _per_channel(graph: Graph, prev: Node, const: np.ndarray) -> np.ndarray | None:
    """``const`` as one float64 value per output channel, or None when it broadcasts along
    any other axis, would grow the output, or is not a finite float."""
    w = graph.weights[prev.inputs[1]]
    if const.dtype != w.dtype or const.dtype.kind != "f" or not np.all(np.isfinite(const)):
        return None
    m, rank = _channels(graph, prev)
    if const.ndim > rank:
        return None
    shape = (1,) * (rank - const.ndim) + tuple(const.shape)
    if any(d != 1 for a, d in enumerate(shape) if a != 1) or shape[1] not in (1, m):
        return None
    return np.broadcast_to(const.astype(np.float64).reshape(-1), (m,)) if const.size else None


def _apply(graph: Graph, prev: Node, op: str, v: np.ndarray) -> None:
    w = graph.weights[prev.inputs[1]]
    dtype = w.dtype
    m = v.shape[0]
    has_b = len(prev.inputs) > 2 and prev.inputs[2]
    b = graph.weights[prev.inputs[2]].astype(np.float64).reshape(-1) if has_b else np.zeros(m)
    b = np.broadcast_to(b, (m,))
    if op == "Mul":
        w = scale_output_channels(prev, w, v)
        wname = _own(graph, prev, 1, prev.inputs[1] + "_scalefold")
        graph.weights[wname] = w
        prev.inputs[1] = wname
        if not has_b:
            return
        b = b * v
    else:
        b = b + v
    bname = _own(graph, prev, 2, prev.name + "_bias_affinefold") if has_b else _fresh(graph, prev.name + "_bias_affinefold")
    graph.weights[bname] = np.ascontiguousarray(b, dtype=dtype)
    prev.inputs = [prev.inputs[0], prev.inputs[1], bname]


def _own(graph: Graph, node: Node, k: int, base: str) -> str:
    """The name to store ``node``'s folded input ``k`` under: its own name when no other
    node reads that weight (names stay stable across folds), else a fresh one."""
    name = node.inputs[k]
    if sum(i == name for n in graph.nodes for i in n.inputs) == 1 and name not in {v.name for v in graph.outputs}:
        return name
    return _fresh(graph, base)


def _fresh(graph: Graph, base: str) -> str:
    name = fresh(base, graph.weights)
    return name
