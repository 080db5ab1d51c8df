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
from ..ir.optable import attr_value


def fold_pad(graph: Graph) -> tuple[Graph, list[str]]:
    producers = graph.producers()
    consumers = graph.consumers()
    outputs = {v.name for v in graph.outputs}
    dropped: set[int] = set()
    changes = []
    for conv in graph.nodes:
        if conv.op != "Conv" or attr_value(conv, "auto_pad") != "NOTSET":
            continue  # SAME_UPPER pads follow the run-time size: nothing fixed to add to
        src = producers.get(conv.inputs[0])
        perm = None
        if src is not None and src.op == "Transpose" and _sole(src, consumers, outputs):
            perm = list(src.attrs["perm"])
            pad = producers.get(src.inputs[0])
        else:
            pad = src
        if pad is None or pad.op != "Pad" or id(pad) in dropped or not _sole(pad, consumers, outputs):
            continue
        p = [int(v) for v in pad.attrs["pads"]]
        r = len(p) // 2
        if attr_value(pad, "mode") != "constant" or float(attr_value(pad, "value")) != 0.0 or min(p) < 0:
            continue
        begin, end = p[:r], p[r:]
        if perm is not None:  # pads of the transposed tensor: axis i of the output is axis perm[i] of the input
            if len(perm) != r:
                continue
            begin, end = [begin[a] for a in perm], [end[a] for a in perm]
        if begin[0] or end[0] or begin[1] or end[1]:
            continue  # batch or channel padding is not a conv's
        nd = r - 2
        cp = [int(v) for v in (conv.attrs.get("pads") or [0] * (2 * nd))]
        conv.attrs["pads"] = [cp[i] + begin[2 + i] for i in range(nd)] + [cp[nd + i] + end[2 + i] for i in range(nd)]
        if perm is None:
            conv.inputs[0] = pad.inputs[0]
        else:
            src.inputs = [pad.inputs[0]]
            x = graph.value_info(pad.inputs[0])
            if x is not None and x.shape is not None and src.outputs[0] in graph.values:
                graph.values[src.outputs[0]].shape = tuple(x.shape[a] for a in perm)
            else:
                graph.values.pop(src.outputs[0], None)
        dropped.add(id(pad))
        changes.append(f"folded {pad.name} into {conv.name}")
    graph.nodes = [n for n in graph.nodes if id(n) not in dropped]
    return graph, changes


def _sole(node: Node, consumers: dict, outputs: set) -> bool:
    out = node.outputs[0]
    return out not in outputs and len(consumers.get(out, [])) == 1
