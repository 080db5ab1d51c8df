"""What the generated module runs but torch.export cannot record as a program that takes
other inputs, checked before a ``.pt2`` is written. Sizes read from values (NonZero,
Unique, a run-time Expand shape) become unbacked symbols and export; these remain."""
from __future__ import annotations

from ...errors import Unsupported, UnsupportedAttributeError
from ...ir.graph import Graph
from ...runtime.shapes import infer_shapes
from ..common import node_problem
from .shape_ops import runtime_expand_sides

_MODULE_RUNS_IT = " (-o model.py writes torch source, which runs it)"


def _expand(node, shapes: dict) -> UnsupportedAttributeError | None:
    if len(node.inputs) < 2 or not node.inputs[1]:
        return None
    if runtime_expand_sides(shapes.get(node.inputs[0]), shapes.get(node.inputs[1])) is not None:
        return None
    return UnsupportedAttributeError(
        "shape", node.inputs[1], "read from tensor values at run time where the input's size is open too: "
        "which side broadcasts depends on values, and torch.export cannot trace that" + _MODULE_RUNS_IT)


# The first torch release whose non-strict torch.export was seen to record a while_loop
# (2.6 cannot; 2.13 and 2.15 can; releases between are untested, so refused).
WHILE_LOOP_EXPORTS = (2, 13)


def _nms(node, shapes: dict) -> UnsupportedAttributeError | None:
    boxes = shapes.get(node.inputs[0])
    if boxes is not None and isinstance(boxes[1], int):
        return None  # a fixed number of boxes: a plain loop
    import torch

    if tuple(int(p) for p in torch.__version__.split(".")[:2]) >= WHILE_LOOP_EXPORTS:
        return None
    return UnsupportedAttributeError(
        "boxes", node.inputs[0], f"an open number of boxes: greedy suppression loops once per box, and "
        f"torch.export of torch {torch.__version__.split('+')[0]} cannot record that loop (2.13 and newer can)"
        + _MODULE_RUNS_IT)


_CHECKS = {"Expand": _expand, "NonMaxSuppression": _nms}


def pt2_problems(graph: Graph) -> list[Unsupported]:
    """One problem per node the ``.pt2`` writer refuses, named after its source layer."""
    if not any(n.op in _CHECKS for n in graph.nodes):
        return []  # (shape inference is not free)
    shapes = infer_shapes(graph)
    out = []
    for n in graph.nodes:
        err = _CHECKS[n.op](n, shapes) if n.op in _CHECKS else None
        if err is not None:
            out.append(node_problem(n, err, ""))
    return out
