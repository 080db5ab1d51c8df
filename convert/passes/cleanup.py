"""Remove ops that are the identity at inference (Dropout, Identity)."""
from __future__ import annotations

from ..ir.graph import Graph

IDENTITY_OPS = ("Dropout", "Identity")


def remove_identity(graph: Graph, ops: tuple[str, ...] = IDENTITY_OPS) -> tuple[Graph, list[str]]:
    rename: dict[str, str] = {}
    keep = []
    changes = []
    outputs = {v.name for v in graph.outputs}
    for n in graph.nodes:
        n.inputs = [rename.get(i, i) for i in n.inputs]
        if n.op in ops and n.outputs[0] not in outputs:
            rename[n.outputs[0]] = n.inputs[0]
            changes.append(f"removed {n.op} {n.name}")
            continue
        keep.append(n)
    graph.nodes = keep
    return graph, changes
