"""Fold an inference BatchNormalization into the preceding Conv / ConvTranspose / Gemm.

Before: y = BN(Conv(x, W, B)).  After: y = Conv(x, W * s, (B - mean) * s + beta) with
s = gamma / sqrt(var + eps), per output channel. Only when the conv output feeds the BN
alone and every parameter is a stored weight.
"""
from __future__ import annotations

import functools
import sys
from collections import Counter

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
    uses = Counter(i for n in graph.nodes for i in n.inputs)
    outputs = {v.name for v in graph.outputs}
    for bn in graph.nodes:
        chain = m.chain(bn, _FOLDABLE) if bn.op == "BatchNormalization" else None
        if chain is None or not _foldable(graph, chain[0], bn):
            continue
        replaced = [*chain[0].inputs[1:], *bn.inputs[1:]]
        w = chain[0].inputs[1]
        _fold(graph, chain[0], bn, reuse=uses[w] == 1 and w not in outputs and _exclusive(graph.weights, w))
        dropped.add(id(bn))
        # the originals go now, not at the end: holding every original beside its folded
        # copy would double the model's weights in memory
        release(graph, replaced, uses, outputs)
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


def _refcounts(weights: dict, name: str) -> tuple[list[int], bool] | None:
    """Reference counts along ``weights[name]``'s base chain as seen from here (the array,
    each ndarray under it, then a memoryview and its bytearray), and whether numpy owns
    the memory; None for memory from anywhere else (a torch tensor's, a read-only buffer)."""
    a = weights[name]
    if not (isinstance(a, np.ndarray) and a.flags.writeable and a.flags.c_contiguous):
        return None
    counts = [sys.getrefcount(a)]
    owner, base = a, a.base
    while isinstance(base, np.ndarray):
        counts.append(sys.getrefcount(base))
        owner, base = base, base.base
    if base is None:
        return (counts, True) if owner.flags.owndata else None
    if isinstance(base, memoryview) and isinstance(base.obj, bytearray):
        return counts + [sys.getrefcount(base), sys.getrefcount(base.obj)], False
    return None


@functools.lru_cache(maxsize=None)
def _sole_counts() -> tuple[int, ...]:
    """What ``_refcounts`` sees for objects nothing else refers to: the array, an ndarray
    under it, the memoryview, the bytearray. Measured on a probe built like the .pt2
    reader's arrays, since interpreters differ in the references they count."""
    counts, _ = _refcounts({"p": np.frombuffer(bytearray(8), np.uint8)[1:]}, "p")  # type: ignore[misc]
    return tuple(counts)


def _exclusive(weights: dict, name: str) -> bool:
    """Whether ``weights[name]`` and the memory under it are reachable from nothing but
    this dict (no other graph, name, view or caller), so scaling it in place is unseen:
    each object in its base chain has no referrer but the one before it. Memory numpy
    allocated or a reader's bytearray qualifies; any other buffer does not."""
    seen = _refcounts(weights, name)
    if seen is None:
        return False
    (counts, owned), (top, level, view, buffer) = seen, _sole_counts()
    levels = counts[1:] if owned else counts[1:-2]
    if counts[0] != top or any(c != level for c in levels):
        return False
    return owned or counts[-2:] == [view, buffer]


def _fold(graph: Graph, prev: Node, bn: Node, reuse: bool = False) -> None:
    """``prev`` computes BN(prev) with new weights and takes over the BN's output. With
    ``reuse`` the weight is scaled in place (the caller checked nothing else sees it):
    no second copy of the largest weight at the peak."""
    gamma, beta, mean, var = (graph.weights[i].astype(np.float64) for i in bn.inputs[1:5])
    s = gamma / np.sqrt(var + attr_value(bn, "epsilon"))
    wold = graph.weights[prev.inputs[1]]
    w = scale_output_channels(prev, wold, s, out=wold if reuse else None)
    b = graph.weights[prev.inputs[2]].astype(np.float64) if len(prev.inputs) > 2 and prev.inputs[2] else 0.0
    nb = (b - mean) * s + beta
    wname = _fresh(graph, prev.inputs[1] + "_bnfold")
    bname = _fresh(graph, prev.name + "_bias_bnfold")
    graph.weights[wname] = w
    graph.weights[bname] = nb.astype(wold.dtype)
    prev.inputs = [prev.inputs[0], wname, bname]
    prev.outputs = [bn.outputs[0]]


def scale_output_channels(node: Node, w: np.ndarray, s: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``w`` of a Conv / ConvTranspose / Gemm ``node`` with output channel c scaled by s[c],
    in ``w``'s dtype, into ``out`` (a new array, or ``w`` itself). The product is computed
    in float64 chunk by chunk (numpy's buffered cast into ``out``), so no float64 copy of
    the whole weight is ever held."""
    out = np.empty(w.shape, w.dtype) if out is None else out
    if node.op == "Conv":  # (M, C/g, *k)
        np.multiply(w, s.reshape((-1,) + (1,) * (w.ndim - 1)), out=out, casting="unsafe")
    elif node.op == "ConvTranspose":  # (C, M/g, *k): output channel = group * M/g + j
        g = attr_value(node, "group")
        cin, mpg = w.shape[0], w.shape[1]
        shape = (g, cin // g, mpg) + w.shape[2:]
        np.multiply(w.reshape(shape), s.reshape((g, 1, mpg) + (1,) * (w.ndim - 2)), out=out.reshape(shape),
                    casting="unsafe")
    else:  # Gemm: B is (out, in) with transB=1, else (in, out)
        np.multiply(w, s[:, None] if attr_value(node, "transB") else s[None, :], out=out, casting="unsafe")
    return out


def release(graph: Graph, names: list[str], uses: Counter, outputs: set) -> None:
    """Count one use less of each of ``names`` and drop the weights nothing reads any more."""
    for name in names:
        if not name:
            continue
        uses[name] -= 1
        if uses[name] <= 0 and name not in outputs:
            graph.weights.pop(name, None)


def _fresh(graph: Graph, base: str) -> str:
    name = fresh(base, graph.weights)
    return name
