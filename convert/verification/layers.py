"""Per-layer comparison: every IR value that both sides expose, in graph order; the
first one above tolerance names the layer to blame.

Values exist on one side only when a pass fused them away (a BatchNorm folded into its
Conv), when a Caffe in-place chain overwrote them, or when a side cannot address them:
such values are not compared, and the next compared value "covers" the layers that
computed them (reported as a group, led by the first of them in graph order).
"""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node
from .core import compare_one
from .report import LayerResult


def candidate_values(graph: Graph) -> list[str]:
    """Every node output in graph order (the values a per-layer run asks both sides for)."""
    return [o for n in graph.nodes for o in n.outputs if o]


def _label(n: Node) -> str:
    return f"{n.source.layer_name} ({n.source.layer_type})" if n.source else f"{n.name} ({n.op})"


def _groups(graph: Graph, compared: list[str]) -> dict[str, list[Node]]:
    """For each compared value, the IR nodes computing it from earlier compared values,
    graph inputs and weights, in graph order."""
    producers = graph.producers()
    order = {id(n): i for i, n in enumerate(graph.nodes)}
    stop = set(compared) | {v.name for v in graph.inputs} | set(graph.weights)
    out = {}
    for v in compared:
        seen: dict[int, Node] = {}
        todo = [producers[v]] if v in producers else []
        while todo:
            n = todo.pop()
            if id(n) in seen:
                continue
            seen[id(n)] = n
            for i in n.inputs:
                if i and i not in stop and i in producers:
                    todo.append(producers[i])
        out[v] = sorted(seen.values(), key=lambda n: order[id(n)])
    return out


def compare_layers(graph: Graph, source: dict, target: dict, *, rtol: float | None = None,
                   atol: float | None = None, device: str = "cpu", computed: str | None = None) -> list[LayerResult]:
    """Compare every value present in both ``source`` and ``target``, in graph order.
    ``computed``: the dtype a half-precision target computes in; each value then gets that
    precision's tolerance relative to its own scale, as the outputs do (core.compare_one)."""
    compared = [v for v in dict.fromkeys(candidate_values(graph)) if v in source and v in target]
    groups = _groups(graph, compared)
    producers = graph.producers()
    results = []
    for i, v in enumerate(compared):
        m = compare_one(v, target[v], source[v], rtol, atol, device, computed)
        group = groups[v]
        lead = group[0] if group else producers.get(v)
        mag = float(np.max(np.abs(np.where(np.isfinite(source[v]), source[v], 0)))) if np.size(source[v]) else 0.0
        results.append(LayerResult(
            index=i, value=v,
            layer=lead.source.layer_name if lead is not None and lead.source else (lead.name if lead else v),
            layer_type=lead.source.layer_type if lead is not None and lead.source else (lead.op if lead else "?"),
            op=" + ".join(dict.fromkeys(n.op for n in group)) if group else "?",
            shape=list(np.shape(source[v])), max_abs=m.max_abs, mean_abs=m.mean_abs, max_rel=m.max_rel,
            cosine=m.cosine, allowed=m.atol + m.rtol * mag, ok=m.ok,
            covers=list(dict.fromkeys(_label(n) for n in group)), note=m.note))
    return results


def first_divergence(layers: list[LayerResult]) -> LayerResult | None:
    return next((layer for layer in layers if not layer.ok), None)
