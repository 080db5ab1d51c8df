"""Data-dependent ops: those whose ONNX spelling takes the IR's attributes as inputs, and
the KV-cache update whose positions are run-time data."""
from __future__ import annotations

from ...errors import UnsupportedAttributeError
from ...ir.optable import attr_value as attr
from .context import OnnxContext
from .registry import register


@register("NonMaxSuppression")
def export_nms(ctx: OnnxContext, node):
    ins = [*node.inputs[:2], ctx.const([attr(node, "max_output_boxes_per_class")], hint="max_output_boxes_per_class"),
           ctx.const([attr(node, "iou_threshold")], "float32", "iou_threshold")]
    if attr(node, "score_threshold") is not None:
        ins.append(ctx.const([attr(node, "score_threshold")], "float32", "score_threshold"))
    ctx.emit("NonMaxSuppression", ins, node.outputs, name=node.name, center_point_box=attr(node, "center_point_box"))


@register("TensorScatter", since=24)
def export_tensor_scatter(ctx: OnnxContext, node):
    ctx.emit("TensorScatter", node.inputs, node.outputs, name=node.name, axis=attr(node, "axis"),
             mode=attr(node, "mode"))


@register("TensorScatter")
def export_tensor_scatter_decomposed(ctx: OnnxContext, node):
    """Before opset 24: ScatterElements along axis with one int64 position per update
    element, write_indices[b] + s (modulo the cache length when circular), from the
    run-time sizes of the update and the cache."""
    p, u = node.inputs[:2]
    info = ctx.graph.value_info(p)
    if info is None or info.shape is None:
        raise UnsupportedAttributeError("past_cache", p, "a known rank below opset 24 (pass --opset 24)")
    rank, n = len(info.shape), node.name
    axis = attr(node, "axis") % rank

    def length(x: str, tag: str) -> tuple[str, str]:  # x's run-time shape, and its 0-d length along axis
        shape = ctx.emit("Shape", [x], name=f"{n}/{tag}_shape")[0]
        return shape, ctx.emit("Gather", [shape, ctx.const(axis, hint="axis")], name=f"{n}/{tag}_len", axis=0)[0]

    update_shape, steps = length(u, "update")
    steps = ctx.emit("Range", [ctx.const(0, hint="zero"), steps, ctx.const(1, hint="one")], name=f"{n}/steps")[0]
    along = [-1 if d == axis else 1 for d in range(rank)]
    pos = ctx.emit("Reshape", [steps, ctx.const(along, hint="along")], name=f"{n}/steps_along")[0]
    if len(node.inputs) > 2 and node.inputs[2]:
        start = ctx.emit("Reshape", [node.inputs[2], ctx.const([-1] + [1] * (rank - 1), hint="per_batch")],
                         name=f"{n}/start")[0]
        pos = ctx.emit("Add", [pos, start], name=f"{n}/pos")[0]
    if attr(node, "mode") == "circular":
        pos = ctx.emit("Mod", [pos, length(p, "cache")[1]], name=f"{n}/wrap")[0]
    full = ctx.emit("Expand", [pos, update_shape], name=f"{n}/index")[0]
    ctx.emit("ScatterElements", [p, full, u], node.outputs, name=n, axis=axis)
