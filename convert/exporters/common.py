"""What the torch, Keras and Caffe exporters share: walking the graph through a handler
registry while gathering every problem, and spotting a bias Add to fuse into a layer."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import Unsupported, UnsupportedAttributeError
from ..ir.graph import Graph, Node
from ..registry import Registry


def node_problem(node: Node, err: UnsupportedAttributeError | None, no_handler: str) -> Unsupported:
    """The problem report for ``node``, named after its source layer."""
    layer = node.source.layer_name if node.source and node.source.layer_name else node.name
    if err is None:
        return Unsupported(layer, node.op, hint=no_handler)
    return Unsupported(layer, node.op, err.attribute, err.value, err.hint)


def run_handlers(graph: Graph, ctx, registry: Registry, no_handler: str,
                 on_fail: Callable[[Node], None] | None = None,
                 skip: Callable[[Node], bool] | None = None, version: int | None = None,
                 fallback: Callable | None = None) -> list[Unsupported]:
    """Call each node's handler (``handler(ctx, node)``) in graph order, skipping nodes
    the context already covered (``ctx.done``, fused into an earlier layer) and those
    ``skip`` rejects. A node without a handler or whose handler raises an unsupported
    attribute is reported, ``on_fail`` is told, and the walk goes on so that every
    problem is found at once. ``version`` picks each op's handler (an ONNX opset);
    ``fallback(ctx, node)`` writes a node whose op has no handler."""
    problems: list[Unsupported] = []
    for node in graph.nodes:
        if node.name in ctx.done or (skip is not None and skip(node)):
            continue
        handler = registry.lookup(node.op, version) or fallback
        err = None
        if handler is not None:
            ctx.node = node
            try:
                handler(ctx, node)
                continue
            except UnsupportedAttributeError as e:
                err = e
        problems.append(node_problem(node, err, no_handler))
        if on_fail is not None:
            on_fail(node)
    return problems


def fixed_pads_only(node: Node, target: str) -> None:
    """Refuse a window op whose pads follow the input size at run time (auto_pad SAME_UPPER):
    ``target`` pads by fixed amounts, and no fixed amount is right for every size."""
    mode = node.attrs.get("auto_pad", "NOTSET")  # the table's default; ConvTranspose has no auto_pad
    if mode != "NOTSET":
        raise UnsupportedAttributeError("auto_pad", mode, f"{target} pads by fixed amounts, and this 'same' padding "
                                        "depends on the spatial size; convert with a fixed spatial size "
                                        "(--input-shape)")
def run_handlers_past_gaps(graph: Graph, ctx, registry: Registry, no_handler: str,
                           failed: set[str]) -> list[Unsupported]:
    """``run_handlers`` for writers that cannot build a node without its inputs: a node
    reading a value in ``failed`` (an unbuilt input, or the output of a reported node) is
    skipped and not reported itself, so only root causes are listed."""

    def downstream_of_failure(node: Node) -> bool:
        if registry.lookup(node.op) is not None and any(i in failed for i in node.inputs):
            failed.update(node.outputs)
            return True
        return False

    return run_handlers(graph, ctx, registry, no_handler, on_fail=lambda node: failed.update(node.outputs),
                        skip=downstream_of_failure)


def bias_add_after(ctx, node: Node, n_out: int) -> tuple[Node, np.ndarray] | None:
    """The Add of a 1-D constant of ``n_out`` values that alone consumes ``node``'s output
    (to fuse into a Dense / Linear layer); marks that Add done."""
    out = node.outputs[0]
    cons = ctx.consumers.get(out, [])
    if len(cons) != 1 or cons[0].op != "Add" or out in ctx.graph_outputs:
        return None
    add = cons[0]
    other = add.inputs[1] if add.inputs[0] == out else add.inputs[0]
    b = ctx.weight(other)
    if b is None or b.ndim != 1 or b.shape[0] != n_out or other == out:
        return None
    ctx.done.add(add.name)
    return add, b


def affine_base_grid(size, align_corners: bool) -> np.ndarray:
    """AffineGrid's homogeneous normalised coordinates (prod(spatial), nd + 1) of every
    output position, x (the last axis) first, then 1: the grid is this times theta
    transposed."""
    axes = []
    for n in size[2:]:
        i = np.arange(n, dtype=np.float64)
        axes.append(2 * i / max(n - 1, 1) - 1 if align_corners else (2 * i + 1) / n - 1)
    mesh = np.meshgrid(*axes, indexing="ij")
    coords = [m.reshape(-1) for m in reversed(mesh)]
    return np.stack(coords + [np.ones_like(coords[0])], axis=1)
