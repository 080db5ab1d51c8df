"""Pooling forms that need more than the op table's one-to-one writing."""
from __future__ import annotations

from .context import OnnxContext
from .registry import register


@register("MaxPoolWithIndices", since=10)
def export_maxpool_with_indices(ctx: OnnxContext, node):
    """ONNX's MaxPool with both outputs (dilations and ceil_mode from opset 10)."""
    keys = ("kernel_shape", "strides", "pads", "ceil_mode", "dilations", "storage_order")
    attrs = {k: node.attrs[k] for k in keys if node.attrs.get(k) is not None}
    if node.attrs.get("auto_pad", "NOTSET") != "NOTSET":
        attrs["auto_pad"] = node.attrs["auto_pad"]
    ctx.emit("MaxPool", node.inputs, node.outputs, name=node.name, **attrs)
