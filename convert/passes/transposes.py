"""Cancel and merge Transposes, and push them through element-wise unary ops.

Before: y = Transpose(Relu(Transpose(x, p1)), p2).  After: y = Relu(x) when p2 undoes
p1 (a Transpose after a unary op moves above it, then adjacent Transposes compose).
Layout changes at framework boundaries (channels-last Keras) produce such pairs.
"""
from __future__ import annotations

from ..ir.graph import Graph
from ..ir.optable import OPS
from ..ir.perm import compose
from .cleanup import remove_identity

# ops a Transpose moves through unchanged (the op table's element-wise unary flag)
UNARY = frozenset(name for name, spec in OPS.items() if spec.elementwise_unary)



def _reaches_transpose(node, producers, consumers) -> bool:
    """Whether a chain of single-consumer unary ops above ``node`` starts at a Transpose."""
    while node.op in UNARY:
        up = producers.get(node.inputs[0])
        if up is None or len(consumers.get(up.outputs[0], [])) != 1:
            return False
        node = up
    return node.op == "Transpose"


def cancel_transposes(graph: Graph) -> tuple[Graph, list[str]]:
    changes: list[str] = []
    protected = {v.name for v in graph.outputs}
    changed = True
    while changed:
        changed = False
        producers = graph.producers()
        consumers = graph.consumers()
        for n in graph.nodes:
            if n.op != "Transpose":
                continue
            prev = producers.get(n.inputs[0])
            if prev is None or len(consumers.get(prev.outputs[0], [])) != 1 or prev.outputs[0] in protected:
                continue
            if prev.op == "Transpose":
                perm = list(compose(prev.attrs["perm"], n.attrs["perm"]))
                n.inputs = [prev.inputs[0]]
                n.attrs["perm"] = perm
                graph.nodes.remove(prev)
                changes.append(f"merged {prev.name} into {n.name}")
                if perm == sorted(perm):
                    n.op, n.attrs = "Identity", {}
                    changes.append(f"cancelled {n.name}")
                changed = True
                break
            if prev.op in UNARY and len(prev.inputs) == 1 and _reaches_transpose(prev, producers, consumers):
                # Swap: Transpose(Unary(x)) -> Unary(Transpose(x)); value names move with the nodes.
                x, mid, out = prev.inputs[0], prev.outputs[0], n.outputs[0]
                n.inputs, n.outputs = [x], [mid]
                prev.inputs, prev.outputs = [mid], [out]
                graph.values.pop(mid, None)
                i, j = graph.nodes.index(prev), graph.nodes.index(n)
                graph.nodes[i], graph.nodes[j] = n, prev
                changes.append(f"moved {n.name} above {prev.name}")
                changed = True
                break
    # Only the Identity nodes cancelled pairs became: Dropout is remove-identity's to drop
    # (and is kept when that pass is off, e.g. for torch source meant for training).
    graph, removed = remove_identity(graph, ("Identity",))
    return graph, changes + removed
