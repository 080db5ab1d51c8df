"""Shape ops whose IR attributes become ONNX constant inputs."""
from __future__ import annotations

import numpy as np

from ...errors import UnsupportedAttributeError
from .context import ONNX_DTYPE, OnnxContext
from .registry import register
from ...ir.optable import attr_value

INT64_MAX = np.iinfo(np.int64).max


@register("Split")
def export_split(ctx: OnnxContext, node):
    inputs = [node.inputs[0]]
    extra = {}
    if node.attrs.get("split") is not None:
        inputs.append(ctx.const(node.attrs["split"], hint="split"))
    elif ctx.opset >= 18:
        extra["num_outputs"] = len(node.outputs)
    ctx.emit("Split", inputs, node.outputs, name=node.name, axis=attr_value(node, "axis"), **extra)


@register("Slice")
def export_slice(ctx: OnnxContext, node):
    a = node.attrs
    ins = [node.inputs[0], ctx.const(a["starts"], hint="starts"), ctx.const(a["ends"], hint="ends")]
    if a.get("axes") is not None or a.get("steps") is not None:
        axes = a.get("axes") or list(range(len(a["starts"])))
        ins.append(ctx.const(axes, hint="axes"))
        if a.get("steps") is not None:
            ins.append(ctx.const(a["steps"], hint="steps"))
    ctx.emit("Slice", ins, node.outputs, name=node.name)


@register("Reshape")
def export_reshape(ctx: OnnxContext, node):
    extra = {"allowzero": 1} if node.attrs.get("allowzero") else {}
    shape = ctx.const(node.attrs["shape"], hint="shape")
    if len(node.inputs) > 1 and node.inputs[1]:
        shape = _runtime_shape(ctx, node)
    ctx.emit("Reshape", [node.inputs[0], shape], node.outputs, name=node.name, **extra)


def _runtime_shape(ctx: OnnxContext, node) -> str:
    """Reshape's target with the like input's sizes read at run time: Shape, Gather and
    Concat with the static entries."""
    like_shape = ctx.emit("Shape", [node.inputs[1]], name=f"{node.name}/like_shape")[0]
    parts = []
    for i, (code, axis) in enumerate(zip(node.attrs["shape"], node.attrs["like_axes"])):
        parts.append(ctx.emit("Gather", [like_shape, ctx.const([axis], hint="axis")], name=f"{node.name}/size{i}",
                              axis=0)[0] if axis >= 0 else ctx.const([code], hint="dim"))
    return ctx.emit("Concat", parts, name=f"{node.name}/shape", axis=0)[0]


@register("SizeRange")
def export_size_range(ctx: OnnxContext, node):
    n = node.name
    shape = ctx.emit("Shape", [node.inputs[0]], name=f"{n}/shape")[0]
    end = ctx.emit("Gather", [shape, ctx.const(attr_value(node, "axis"), hint="axis")], name=f"{n}/end", axis=0)[0]
    dt = attr_value(node, "dtype")
    if dt != "int64":
        end = ctx.emit("Cast", [end], name=f"{n}/end_cast", to=ONNX_DTYPE[dt])[0]
    ctx.emit("Range", [ctx.const(attr_value(node, "start"), dt, hint="start"), end,
                       ctx.const(attr_value(node, "delta"), dt, hint="delta")], node.outputs, name=n)


@register("Squeeze")
def export_squeeze(ctx: OnnxContext, node):
    ins = [node.inputs[0]]
    if node.attrs.get("axes") is not None:
        ins.append(ctx.const(node.attrs["axes"], hint="axes"))
    ctx.emit("Squeeze", ins, node.outputs, name=node.name)


@register("Unsqueeze")
def export_unsqueeze(ctx: OnnxContext, node):
    ctx.emit("Unsqueeze", [node.inputs[0], ctx.const(node.attrs["axes"], hint="axes")], node.outputs, name=node.name)


@register("Pad")
def export_pad(ctx: OnnxContext, node):
    mode = attr_value(node, "mode")
    ins = [node.inputs[0], ctx.const(node.attrs["pads"], hint="pads")]
    if mode == "constant" and attr_value(node, "value") != 0.0:
        ins.append(ctx.const(node.attrs["value"], dtype=_dtype_of(ctx, node.inputs[0]), hint="pad_value"))
    ctx.emit("Pad", ins, node.outputs, name=node.name, mode=mode)


@register("Resize")
def export_resize(ctx: OnnxContext, node):
    a = node.attrs
    roi = ctx.const(a["roi"], dtype="float32", hint="roi") if a.get("roi") is not None else ""
    if a.get("scales") is not None:
        ins = [node.inputs[0], roi, ctx.const(a["scales"], dtype="float32", hint="scales")]
    else:
        ins = [node.inputs[0], roi, "", ctx.const(a["sizes"], hint="sizes")]
    mode = attr_value(node, "mode")
    extra = {}
    if mode == "nearest":
        extra["nearest_mode"] = attr_value(node, "nearest_mode")
    if mode == "cubic":
        extra["cubic_coeff_a"] = float(attr_value(node, "cubic_coeff_a"))
    if attr_value(node, "exclude_outside"):
        extra["exclude_outside"] = 1
    if attr_value(node, "antialias"):
        if ctx.opset < 18:
            raise UnsupportedAttributeError("antialias", 1, "needs opset >= 18 (pass --opset 18)")
        extra["antialias"] = 1
    if a.get("roi") is not None:
        extra["extrapolation_value"] = float(attr_value(node, "extrapolation_value"))
    ctx.emit("Resize", ins, node.outputs, name=node.name, mode=mode,
             coordinate_transformation_mode=attr_value(node, "coordinate_transformation_mode"), **extra)


@register("GridSample", since=16)
def export_grid_sample_16(ctx: OnnxContext, node):
    info = ctx.graph.value_info(node.inputs[0])
    if info is not None and info.shape is not None and len(info.shape) != 4:
        raise UnsupportedAttributeError("rank", len(info.shape), "GridSample beyond 2-D needs opset >= 20 (pass --opset 20)")
    mode = attr_value(node, "mode")
    ctx.emit("GridSample", node.inputs, node.outputs, name=node.name, mode={"linear": "bilinear", "cubic": "bicubic"}.get(mode, mode),
             padding_mode=attr_value(node, "padding_mode"), align_corners=int(attr_value(node, "align_corners")))


@register("GridSample", since=20)
def export_grid_sample(ctx: OnnxContext, node):
    ctx.emit("GridSample", node.inputs, node.outputs, name=node.name, mode=attr_value(node, "mode"),
             padding_mode=attr_value(node, "padding_mode"), align_corners=int(attr_value(node, "align_corners")))


@register("Tile")
def export_tile(ctx: OnnxContext, node):
    ctx.emit("Tile", [node.inputs[0], ctx.const(node.attrs["repeats"], hint="repeats")], node.outputs, name=node.name)


@register("Expand")
def export_expand(ctx: OnnxContext, node):
    run_time = len(node.inputs) > 1 and node.inputs[1]
    shape = node.inputs[1] if run_time else ctx.const(node.attrs["shape"], hint="shape")
    ctx.emit("Expand", [node.inputs[0], shape], node.outputs, name=node.name)


@register("Cast")
def export_cast(ctx: OnnxContext, node):
    ctx.emit("Cast", node.inputs, node.outputs, name=node.name, to=ONNX_DTYPE[node.attrs["to"]])


@register("Constant", "Identity")
def export_identity(ctx: OnnxContext, node):
    src = node.attrs["weight"] if node.op == "Constant" else node.inputs[0]
    ctx.emit("Identity", [src], node.outputs, name=node.name)


@register("Dropout")
def export_dropout(ctx: OnnxContext, node):
    # Identity at inference; the optimiser normally removes it before export.
    ctx.emit("Identity", node.inputs[:1], node.outputs[:1], name=node.name)


def _dtype_of(ctx: OnnxContext, value: str) -> str:
    info = ctx.graph.value_info(value)
    return info.dtype if info is not None else "float32"


@register("Trilu", since=14)
def export_trilu(ctx: OnnxContext, node):
    k = node.attrs.get("k", 0)
    ins = [node.inputs[0]] + ([ctx.const(k, hint="k")] if k else [])
    ctx.emit("Trilu", ins, node.outputs, name=node.name, upper=node.attrs.get("upper", 1))


@register("CumSum")
def export_cumsum(ctx: OnnxContext, node):
    ctx.emit("CumSum", [node.inputs[0], ctx.const(node.attrs["axis"], hint="axis")], node.outputs, name=node.name,
             exclusive=node.attrs.get("exclusive", 0), reverse=node.attrs.get("reverse", 0))


@register("CumProd", since=26)
def export_cumprod(ctx: OnnxContext, node):
    ctx.emit("CumProd", [node.inputs[0], ctx.const(node.attrs["axis"], hint="axis")], node.outputs, name=node.name,
             exclusive=attr_value(node, "exclusive"), reverse=attr_value(node, "reverse"))


@register("BitCast", since=26)
def export_bitcast(ctx: OnnxContext, node):
    ctx.emit("BitCast", node.inputs, node.outputs, name=node.name, to=ONNX_DTYPE[node.attrs["to"]])


@register("AffineGrid", since=20)
def export_affine_grid(ctx: OnnxContext, node):
    ctx.emit("AffineGrid", [node.inputs[0], ctx.const(node.attrs["size"], hint="size")], node.outputs,
             name=node.name, align_corners=int(attr_value(node, "align_corners")))


@register("AffineGrid")
def export_affine_grid_decomposed(ctx: OnnxContext, node):
    """Before opset 20: a constant base grid MatMul theta^T, reshaped to (N, *spatial, nd)."""
    size = [int(v) for v in node.attrs["size"]]
    from ..common import affine_base_grid

    base = affine_base_grid(size, bool(attr_value(node, "align_corners")))
    dtype = _dtype_of(ctx, node.inputs[0])
    theta_t = ctx.emit("Transpose", [node.inputs[0]], 1, name=node.name, perm=[0, 2, 1])[0]
    flat = ctx.emit("MatMul", [ctx.const(base, dtype=dtype, hint="base_grid"), theta_t], 1, name=node.name)[0]
    ctx.emit("Reshape", [flat, ctx.const([size[0], *size[2:], len(size) - 2], hint="shape")], node.outputs,
             name=node.name)


@register("Col2Im", since=18)
def export_col2im(ctx: OnnxContext, node):
    ins = [node.inputs[0], ctx.const(node.attrs["image_shape"], hint="image_shape"),
           ctx.const(node.attrs["block_shape"], hint="block_shape")]
    ctx.emit("Col2Im", ins, node.outputs, name=node.name,
             **{k: node.attrs.get(k) for k in ("strides", "pads", "dilations")})


_MODE_SINCE = 28  # SpaceToDepth's mode attribute


def crd_channels(channels: int, block: int) -> np.ndarray:
    """For each CRD output channel (c, i, j), the DCR channel (i, j, c) holding the same data."""
    c, i, j = np.meshgrid(np.arange(channels), np.arange(block), np.arange(block), indexing="ij")
    return ((i * block + j) * channels + c).reshape(-1)


@register("SpaceToDepth")
def export_space_to_depth(ctx: OnnxContext, node):
    """Mode CRD before opset 28: DCR, then its channels gathered into CRD order."""
    b, mode = int(node.attrs["blocksize"]), attr_value(node, "mode")
    if mode == "DCR" or ctx.opset >= _MODE_SINCE:
        ctx.emit("SpaceToDepth", node.inputs, node.outputs, name=node.name, blocksize=b,
                 mode=mode if mode != "DCR" else None)
        return
    info = ctx.graph.value_info(node.inputs[0])
    channels = info.shape[1] if info is not None and info.shape is not None and len(info.shape) > 1 else None
    if not isinstance(channels, int):
        raise UnsupportedAttributeError("mode", mode, f"CRD with a dynamic channel count needs opset >= "
                                                      f"{_MODE_SINCE} (pass --opset {_MODE_SINCE})")
    dcr = ctx.emit("SpaceToDepth", node.inputs, name=f"{node.name}/dcr", blocksize=b)[0]
    ctx.emit("Gather", [dcr, ctx.const(crd_channels(channels, b), hint="crd_channels")], node.outputs,
             name=node.name, axis=1)


# onnxruntime's OneHot kernels for int64 indices hold these value types (int32 ones with a
# float depth); other value types are written in one of them and cast (exact: the IR holds
# them as floats)
_ONEHOT_KERNEL = {"float32": "float32", "int32": "int32", "int64": "int64", "float16": "float32",
                  "bfloat16": "float32", "bool": "int64", "int8": "int64", "int16": "int64", "uint8": "int64"}


@register("OneHot", since=11)
def export_onehot(ctx: OnnxContext, node):
    """OneHot from opset 11, where negative indices count from the end as in the IR."""
    depth, dtype = attr_value(node, "depth"), attr_value(node, "dtype")
    values = attr_value(node, "values")
    kernel = _ONEHOT_KERNEL.get(dtype, dtype)
    if dtype == "float64" and any(float(np.float32(v)) != v for v in values):
        kernel = dtype  # exact only as float64 (which onnxruntime's OneHot lacks)
    if kernel == "int32" and depth >= 2**24:
        kernel = "int64"  # a float depth past 2**24 may round
    x = node.inputs[0]
    if ctx.dtype(x) != "int64":
        x = ctx.emit("Cast", [x], name=node.name + "_indices", to=ONNX_DTYPE["int64"])[0]
    ins = [x, ctx.const(depth, "float32" if kernel == "int32" else "int64", hint="depth"),
           ctx.const(values, dtype=kernel, hint="values")]
    if kernel == dtype:
        ctx.emit("OneHot", ins, node.outputs, name=node.name, axis=attr_value(node, "axis"))
        return
    hot = ctx.emit("OneHot", ins, name=node.name, axis=attr_value(node, "axis"))[0]
    ctx.emit("Cast", [hot], node.outputs, name=node.name + "_cast", to=ONNX_DTYPE[dtype])
