"""Fold a zero Pad into the Conv after it, also across a layout Transpose.

Before: y = Conv(Pad(x, p)) or y = Conv(Transpose(Pad(x, p), perm)) (Keras ZeroPadding2D
before a 'valid' Conv2D: the pad runs channels-last, before the boundary Transpose).
After: y = Conv(x, pads += p) or y = Conv(Transpose(x, perm), pads += p permuted).
Zero padding then convolving is the Conv's own zero padding, so the numbers are the same
and one full copy of the activation goes. Only for constant mode with value 0,
non-negative pads on the spatial axes alone, and single-consumer values.
"""
from __future__ import annotations

from ..ir.graph import Graph, Node
from .match import Matcher
from ..ir.optable import attr_value


def fold_pad(graph: Graph) -> tuple[Graph, list[str]]:
    m = Matcher(graph)
    dropped: set[int] = set()
    changes = []
    for conv in graph.nodes:
        if conv.op != "Conv" or attr_value(conv, "auto_pad") != "NOTSET":
            continue  # SAME_UPPER pads follow the run-time size: nothing fixed to add to
        chain = m.chain(conv, "Transpose", "Pad") or m.chain(conv, "Pad")
        if chain is None or id(chain[-1]) in dropped:
            continue
        pad, transpose = chain[-1], (chain[0] if len(chain) == 2 else None)
        spatial = _spatial_pads(pad, None if transpose is None else list(transpose.attrs["perm"]))
        if spatial is None:
            continue
        _add_pads(conv, *spatial)
        if transpose is None:
            conv.inputs[0] = pad.inputs[0]
        else:
            _bypass_under(graph, transpose, pad)
        dropped.add(id(pad))
        changes.append(f"folded {pad.name} into {conv.name}")
    graph.nodes = [n for n in graph.nodes if id(n) not in dropped]
    return graph, changes


def _spatial_pads(pad: Node, perm: list[int] | None) -> tuple[list[int], list[int]] | None:
    """(begin, end) pads of the spatial axes of a zero, non-negative Pad as the Conv sees
    them (through ``perm`` when a Transpose sits between); None where a Conv cannot take them."""
    p = [int(v) for v in pad.attrs["pads"]]
    r = len(p) // 2
    if attr_value(pad, "mode") != "constant" or float(attr_value(pad, "value")) != 0.0 or min(p) < 0:
        return None
    begin, end = p[:r], p[r:]
    if perm is not None:  # pads of the transposed tensor: axis i of the output is axis perm[i] of the input
        if len(perm) != r:
            return None
        begin, end = [begin[a] for a in perm], [end[a] for a in perm]
    if begin[0] or end[0] or begin[1] or end[1]:
        return None  # batch or channel padding is not a conv's
    return begin[2:], end[2:]


def _add_pads(conv: Node, begin: list[int], end: list[int]) -> None:
    nd = len(begin)
    cp = [int(v) for v in (conv.attrs.get("pads") or [0] * (2 * nd))]
    conv.attrs["pads"] = [cp[i] + begin[i] for i in range(nd)] + [cp[nd + i] + end[i] for i in range(nd)]


def _bypass_under(graph: Graph, transpose: Node, pad: Node) -> None:
    """Feed ``transpose`` the Pad's input; its output shape loses the padding."""
    transpose.inputs = [pad.inputs[0]]
    perm = list(transpose.attrs["perm"])
    x = graph.value_info(pad.inputs[0])
    if x is not None and x.shape is not None and transpose.outputs[0] in graph.values:
        graph.values[transpose.outputs[0]].shape = tuple(x.shape[a] for a in perm)
    else:
        graph.values.pop(transpose.outputs[0], None)
