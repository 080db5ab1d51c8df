"""Remove nodes and weights that no graph output depends on.

Before: an importer leaves ``h = Squeeze(Y_h)`` that nothing reads.  After: gone. Nodes
with several outputs stay while any of their outputs is used."""
from __future__ import annotations

from ..ir.graph import Graph


def remove_dead(graph: Graph) -> tuple[Graph, list[str]]:
    before = [n.name for n in graph.nodes]
    graph.prune()
    kept = {n.name for n in graph.nodes}
    return graph, [f"removed unused {name}" for name in before if name not in kept]
