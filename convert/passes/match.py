"""A small pattern matcher for passes: producer chains by op name over single-use edges.

``Matcher(graph).chain(conv, "Transpose", "Pad")`` is the [Transpose, Pad] feeding
``conv`` through its first input, each output read by the next node alone and no graph
output, or None. The producer/consumer maps are taken once, when the matcher is made.
"""
from __future__ import annotations

from ..ir.graph import Graph, Node


class Matcher:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.producers = graph.producers()
        self.consumers = graph.consumers()
        self.outputs = {v.name for v in graph.outputs}

    def single_use(self, value: str) -> bool:
        """``value`` is read by one node only and is not a graph output."""
        return value not in self.outputs and len(self.consumers.get(value, [])) == 1

    def chain(self, node: Node, *ops: str | tuple[str, ...]) -> list[Node] | None:
        """The producers up ``node``'s first input, nearest first, whose ops are ``ops``
        in order (a tuple: any of them) and whose first outputs are single-use; None
        where any step differs."""
        found: list[Node] = []
        cur = node
        for op in ops:
            prev = self.producers.get(cur.inputs[0]) if cur.inputs else None
            if prev is None or prev.op not in ((op,) if isinstance(op, str) else op) \
                    or not self.single_use(prev.outputs[0]):
                return None
            found.append(prev)
            cur = prev
        return found
