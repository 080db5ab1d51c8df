"""Data-dependent ops whose ONNX spelling takes the IR's attributes as inputs."""
from __future__ import annotations

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
