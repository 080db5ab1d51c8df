"""Shape ops whose IR attributes become ONNX constant inputs."""
from __future__ import annotations

import numpy as np

from .context import ONNX_DTYPE, OnnxContext
from .registry import register

INT64_MAX = np.iinfo(np.int64).max


@register("Split")
def export_split(node, ctx: OnnxContext):
    inputs = [node.inputs[0]]
    extra = {}
    if node.attrs.get("split") is not None:
        inputs.append(ctx.const(node.attrs["split"], hint="split"))
    elif ctx.opset >= 18:
        extra["num_outputs"] = len(node.outputs)
    ctx.emit("Split", inputs, node.outputs, name=node.name, axis=node.attrs.get("axis", 0), **extra)


@register("Slice")
def export_slice(node, ctx: OnnxContext):
    a = node.attrs
    ins = [node.inputs[0], ctx.const(a["starts"], hint="starts"), ctx.const(a["ends"], hint="ends")]
    if a.get("axes") is not None or a.get("steps") is not None:
        axes = a.get("axes") or list(range(len(a["starts"])))
        ins.append(ctx.const(axes, hint="axes"))
        if a.get("steps") is not None:
            ins.append(ctx.const(a["steps"], hint="steps"))
    ctx.emit("Slice", ins, node.outputs, name=node.name)


@register("Reshape")
def export_reshape(node, ctx: OnnxContext):
    extra = {"allowzero": 1} if node.attrs.get("allowzero") else {}
    ctx.emit("Reshape", [node.inputs[0], ctx.const(node.attrs["shape"], hint="shape")], node.outputs,
             name=node.name, **extra)


@register("Squeeze")
def export_squeeze(node, ctx: OnnxContext):
    ins = [node.inputs[0]]
    if node.attrs.get("axes") is not None:
        ins.append(ctx.const(node.attrs["axes"], hint="axes"))
    ctx.emit("Squeeze", ins, node.outputs, name=node.name)


@register("Unsqueeze")
def export_unsqueeze(node, ctx: OnnxContext):
    ctx.emit("Unsqueeze", [node.inputs[0], ctx.const(node.attrs["axes"], hint="axes")], node.outputs, name=node.name)


@register("Pad")
def export_pad(node, ctx: OnnxContext):
    mode = node.attrs.get("mode", "constant")
    ins = [node.inputs[0], ctx.const(node.attrs["pads"], hint="pads")]
    if mode == "constant" and node.attrs.get("value", 0.0) != 0.0:
        ins.append(ctx.const(node.attrs["value"], dtype=_dtype_of(ctx, node.inputs[0]), hint="pad_value"))
    ctx.emit("Pad", ins, node.outputs, name=node.name, mode=mode)


@register("Resize")
def export_resize(node, ctx: OnnxContext):
    a = node.attrs
    roi = ctx.const(a["roi"], dtype="float32", hint="roi") if a.get("roi") is not None else ""
    if a.get("scales") is not None:
        ins = [node.inputs[0], roi, ctx.const(a["scales"], dtype="float32", hint="scales")]
    else:
        ins = [node.inputs[0], roi, "", ctx.const(a["sizes"], hint="sizes")]
    mode = a.get("mode", "nearest")
    extra = {}
    if mode == "nearest":
        extra["nearest_mode"] = a.get("nearest_mode", "round_prefer_floor")
    if mode == "cubic":
        extra["cubic_coeff_a"] = float(a.get("cubic_coeff_a", -0.75))
    if a.get("exclude_outside"):
        extra["exclude_outside"] = 1
    if a.get("antialias"):
        if ctx.opset < 18:
            raise ValueError(f"{node.name}: Resize antialias needs opset 18 or newer")
        extra["antialias"] = 1
    if a.get("roi") is not None:
        extra["extrapolation_value"] = float(a.get("extrapolation_value", 0.0))
    ctx.emit("Resize", ins, node.outputs, name=node.name, mode=mode,
             coordinate_transformation_mode=a.get("coordinate_transformation_mode", "half_pixel"), **extra)


@register("GridSample", since=16)
def export_grid_sample_16(node, ctx: OnnxContext):
    a = node.attrs
    info = ctx.graph.value_info(node.inputs[0])
    if info is not None and info.shape is not None and len(info.shape) != 4:
        raise ValueError(f"{node.name}: GridSample beyond 2-D needs opset 20")
    mode = {"linear": "bilinear", "cubic": "bicubic"}.get(a.get("mode", "linear"), a.get("mode", "linear"))
    ctx.emit("GridSample", node.inputs, node.outputs, name=node.name, mode=mode,
             padding_mode=a.get("padding_mode", "zeros"), align_corners=int(a.get("align_corners", 0)))


@register("GridSample", since=20)
def export_grid_sample(node, ctx: OnnxContext):
    a = node.attrs
    ctx.emit("GridSample", node.inputs, node.outputs, name=node.name, mode=a.get("mode", "linear"),
             padding_mode=a.get("padding_mode", "zeros"), align_corners=int(a.get("align_corners", 0)))


@register("Tile")
def export_tile(node, ctx: OnnxContext):
    ctx.emit("Tile", [node.inputs[0], ctx.const(node.attrs["repeats"], hint="repeats")], node.outputs, name=node.name)


@register("Expand")
def export_expand(node, ctx: OnnxContext):
    ctx.emit("Expand", [node.inputs[0], ctx.const(node.attrs["shape"], hint="shape")], node.outputs, name=node.name)


@register("Cast")
def export_cast(node, ctx: OnnxContext):
    ctx.emit("Cast", node.inputs, node.outputs, name=node.name, to=ONNX_DTYPE[node.attrs["to"]])


@register("Constant", "Identity")
def export_identity(node, ctx: OnnxContext):
    src = node.attrs["weight"] if node.op == "Constant" else node.inputs[0]
    ctx.emit("Identity", [src], node.outputs, name=node.name)


@register("Dropout")
def export_dropout(node, ctx: OnnxContext):
    # Identity at inference; the optimiser normally removes it before export.
    ctx.emit("Identity", node.inputs[:1], node.outputs[:1], name=node.name)


def _dtype_of(ctx: OnnxContext, value: str) -> str:
    info = ctx.graph.value_info(value)
    return info.dtype if info is not None else "float32"
