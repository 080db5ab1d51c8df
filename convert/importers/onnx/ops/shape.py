"""Shape and data-movement ops. Constant operands (shapes, axes, pads, scales) become IR
attributes; a shape holding a dynamic dimension keeps it dynamic where the IR can say so
(0 = copy the input dimension in Reshape, 1 = keep it in Expand)."""
from __future__ import annotations

import math

import numpy as np

from ....errors import UnsupportedAttributeError
from ....ir.resize_weights import axis_weights
from ..context import DataDependent
from ..read import IR_DTYPE, type_name
from ..registry import register
from .common import check_defaults, register_same

register_same(register, ["Concat", "DepthToSpace", "SpaceToDepth", "ReverseSequence"])


def _axis(ctx, key: str, default: int) -> int:
    """An axis attribute made non-negative where the input rank is known."""
    axis, rank = int(ctx.attr(key, default)), ctx.rank(0)
    return axis % rank if rank and axis < 0 else axis


@register("Flatten", emits=("Reshape",))
def import_flatten(ctx, node):
    rank, axis = ctx.rank(0), int(ctx.attr("axis", 1))
    axis = axis + rank if rank is not None and axis < 0 else axis
    shape = ctx.shape(0)
    if shape is not None and len(shape) < 2 and all(isinstance(d, int) for d in shape):
        # a rank-0/1 input: the 2-D result as a plain reshape (flatten(start_dim) needs rank >= 2)
        outer = int(np.prod(shape[:axis]))
        return ctx.emit("Reshape", [ctx.x(0)], {"shape": [outer, int(np.prod(shape)) // max(outer, 1)]})
    ctx.emit("Flatten", [ctx.x(0)], {"axis": axis})


@register("Gather")
def import_gather(ctx, node):
    """Constant negative indices count from the end; made non-negative for targets that
    index strictly (torch.index_select)."""
    axis = _axis(ctx, "axis", 0)
    idx = ctx.maybe_const(1)
    shape = ctx.shape(0)
    indices = ctx.x(1)
    if idx is not None and (idx < 0).any() and shape is not None and isinstance(shape[axis], int):
        indices = ctx.b.weight(ctx.name(1) + "/nonneg", np.where(idx < 0, idx + shape[axis], idx).astype(idx.dtype))
    ctx.emit("Gather", [ctx.x(0), indices], {"axis": axis})


def ints(a) -> list[int]:
    return [int(v) for v in np.asarray(a).reshape(-1)]


@register("Identity")
def import_identity(ctx, node):
    ctx.alias(0, ctx.x(0))


@register("Reshape", since=5)
def import_reshape(ctx, node):
    dims = list(ctx.dims(1, "shape"))
    allowzero = int(ctx.attr("allowzero", 0))
    ctx.emit("Reshape", [ctx.x(0)], {"shape": static_reshape(ctx, dims, allowzero), "allowzero": allowzero or None})


@register("Reshape")
def import_reshape_attr(ctx, node):
    ctx.emit("Reshape", [ctx.x(0)], {"shape": static_reshape(ctx, list(ctx.attr("shape")), 0)})


def static_reshape(ctx, dims: list, allowzero: int) -> list[int]:
    """A target shape with symbolic entries as IR ints: a dynamic dim equal to the input's
    dim at the same index becomes 0 (copy), one remaining dynamic dim becomes -1."""
    shape = ctx.shape(0) or ()
    out = []
    for k, d in enumerate(dims):
        if isinstance(d, str):
            if not allowzero and k < len(shape) and shape[k] == d:
                out.append(0)
            else:
                out.append(None)
        else:
            out.append(int(d))
    if out.count(None) == 1 and -1 not in out:
        out[out.index(None)] = -1
    if None in out:
        raise DataDependent("shape", [str(d) for d in dims], "a reshape to several dynamic dimensions that are "
                                                            "not the input's own")
    return out


@register("Transpose")
def import_transpose(ctx, node):
    perm = ctx.attr("perm")
    if perm is None:
        rank = ctx.rank(0)
        if rank is None:
            raise DataDependent("perm", None, "default perm needs the input rank")
        perm = list(range(rank))[::-1]
    ctx.emit("Transpose", [ctx.x(0)], {"perm": ints(perm)})


@register("Squeeze", "Unsqueeze")
def import_squeeze_attr(ctx, node):
    axes = ctx.attr("axes")
    ctx.emit(node.op_type, [ctx.x(0)], {"axes": ints(axes) if axes is not None else None})


@register("Squeeze", "Unsqueeze", since=13)
def import_squeeze(ctx, node):
    axes = ints(ctx.const(1, "axes")) if ctx.has(1) else None
    ctx.emit(node.op_type, [ctx.x(0)], {"axes": axes})


@register("Split")
def import_split_attr(ctx, node):
    split = ctx.attr("split")
    ctx.emit("Split", [ctx.x(0)], {"axis": int(ctx.attr("axis", 0)),
                                    "split": ints(split) if split is not None else None})


@register("Split", since=13)
def import_split(ctx, node):
    axis = int(ctx.attr("axis", 0))
    split = ints(ctx.const(1, "split")) if ctx.has(1) else None
    n = len(node.output)
    if split is None and ctx.attr("num_outputs") is not None:
        shape = ctx.shape(0)
        size = shape[axis] if shape is not None else None
        if not isinstance(size, int):
            raise DataDependent("num_outputs", n, "needs a static size along the split axis")
        part = -(-size // n)
        split = [min(part, size - part * k) for k in range(n)]
    ctx.emit("Split", [ctx.x(0)], {"axis": axis, "split": split})


@register("Slice")
def import_slice_attr(ctx, node):
    axes = ctx.attr("axes")
    ctx.emit("Slice", [ctx.x(0)], {"starts": ints(ctx.attr("starts")), "ends": ints(ctx.attr("ends")),
                                    "axes": ints(axes) if axes is not None else None})


@register("Slice", since=10)
def import_slice(ctx, node):
    attrs = {"starts": ints(ctx.const(1, "starts")), "ends": ints(ctx.const(2, "ends"))}
    if ctx.has(3):
        attrs["axes"] = ints(ctx.const(3, "axes"))
    if ctx.has(4):
        attrs["steps"] = ints(ctx.const(4, "steps"))
    ctx.emit("Slice", [ctx.x(0)], attrs)


def _all_axes(ctx, axes: list[int] | None, per_axis: list, fill) -> list:
    """Values given for ``axes`` (opset 18) spread over every axis of the input."""
    if axes is None:
        return per_axis
    rank = ctx.rank(0)
    if rank is None:
        raise DataDependent("axes", axes, "needs the input rank")
    out = [fill] * rank
    for a, v in zip(axes, per_axis):
        out[a % rank] = v
    return out


@register("Pad")
def import_pad_attr(ctx, node):
    pads = ctx.attr("pads", ctx.attr("paddings"))
    ctx.emit("Pad", [ctx.x(0)], {"pads": ints(pads), "mode": ctx.attr("mode", "constant"),
                                  "value": float(ctx.attr("value", 0.0))})


@register("Pad", since=11)
def import_pad(ctx, node):
    pads = ints(ctx.const(1, "pads"))
    value = float(ctx.const(2, "constant_value").reshape(())) if ctx.has(2) else 0.0
    if ctx.has(3):
        axes = ints(ctx.const(3, "axes"))
        n = len(axes)
        pads = _all_axes(ctx, axes, pads[:n], 0) + _all_axes(ctx, axes, pads[n:], 0)
    ctx.emit("Pad", [ctx.x(0)], {"pads": pads, "mode": ctx.attr("mode", "constant"), "value": value})


def _resize_attrs(ctx, mode: str) -> dict:
    out = {"mode": mode}
    for k in ("coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a", "exclude_outside", "antialias",
              "extrapolation_value"):
        if k in ctx.attrs:
            out[k] = float(ctx.attrs[k]) if k in ("cubic_coeff_a", "extrapolation_value") else ctx.attrs[k]
    return out


def _roi(ctx, axes: list[int] | None) -> list[float]:
    """tf_crop_and_resize's region: starts then ends over every axis."""
    roi = [float(v) for v in ctx.const(1, "roi").reshape(-1)]
    half = len(roi) // 2
    starts = _all_axes(ctx, axes, roi[:half], 0.0)
    return starts + _all_axes(ctx, axes, roi[half:], 1.0)


def _keep_aspect(ctx, policy: str, sizes: list[int], axes: list[int] | None) -> tuple[float, dict[int, int]]:
    """keep_aspect_ratio_policy: one scale for the resized axes and each one's output size,
    ``scale * size`` rounded half up."""
    shape = ctx.shape(0)
    if shape is None:
        raise DataDependent("keep_aspect_ratio_policy", policy, "needs the input shape")
    axes = [a % len(shape) for a in axes] if axes is not None else list(range(len(shape)))
    if any(not isinstance(shape[a], int) for a in axes):
        raise DataDependent("keep_aspect_ratio_policy", policy, "needs static input sizes")
    ratios = [int(n) / shape[a] for n, a in zip(sizes, axes)]
    scale = min(ratios) if policy == "not_larger" else max(ratios)
    return scale, {a: int(scale * shape[a] + 0.5) for a in axes}


def _nearest_gathers(ctx, attrs: dict, scale: float, out: dict[int, int]) -> None:
    """Nearest resampling with a scale the output size does not follow (the IR's Resize
    takes the size as floor(scale * size)): one Gather of constant source indices per axis,
    the indices computed from the ONNX attributes."""
    ctm = attrs.get("coordinate_transformation_mode", "half_pixel")
    if attrs["mode"] != "nearest" or ctm == "tf_crop_and_resize":
        raise UnsupportedAttributeError("keep_aspect_ratio_policy", ctx.attr("keep_aspect_ratio_policy"),
                                        "an output size other than floor(scale * size) with linear, cubic or "
                                        "tf_crop_and_resize (nearest is read)")
    x, shape = ctx.x(0), ctx.shape(0)
    changed = [a for a, n in out.items() if n != shape[a] or scale != 1.0]
    for i, a in enumerate(changed):
        w, _ = axis_weights(shape[a], out[a], scale, mode="nearest", ctm=ctm,
                            nearest_mode=attrs.get("nearest_mode", "round_prefer_floor"))
        idx = ctx.b.weight(f"{ctx.node.name or 'resize'}/index{a}", np.argmax(w, axis=1).astype(np.int64))
        if i == len(changed) - 1:
            ctx.emit("Gather", [x, idx], {"axis": a})
        else:
            x = ctx.tmp("Gather", [x, idx], axis=a)
    if not changed:
        ctx.alias(0, x)


@register("Resize", since=11, emits=("Gather",))
def import_resize(ctx, node):
    mode = ctx.attr("mode", "nearest")
    attrs = _resize_attrs(ctx, mode)
    axes = ints(ctx.attr("axes")) if ctx.attr("axes") is not None else None
    if attrs.get("coordinate_transformation_mode") == "tf_crop_and_resize":
        attrs["roi"] = _roi(ctx, axes)
    scales = ctx.maybe_const(2) if ctx.has(2) else None
    if scales is not None and scales.size:
        attrs["scales"] = _all_axes(ctx, axes, [float(s) for s in scales.reshape(-1)], 1.0)
    elif ctx.has(3):
        sizes = list(ctx.dims(3, "sizes"))
        shape = ctx.shape(0)
        policy = ctx.attr("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            scale, out = _keep_aspect(ctx, policy, sizes, axes)
            if any(math.floor(scale * shape[a]) != n for a, n in out.items()):
                return _nearest_gathers(ctx, attrs, scale, out)
            attrs["scales"] = [scale if a in out else 1.0 for a in range(len(shape))]
        elif axes is not None:
            sizes = _all_axes(ctx, axes, sizes, None)
            sizes = [shape[k] if s is None else s for k, s in enumerate(sizes)] if shape else sizes
        if "scales" in attrs:
            pass
        elif any(not isinstance(s, (int, np.integer)) for s in sizes):
            # dynamic N / C kept: the scale 1 keeps them, static spatial sizes become scales
            if shape is None or any(isinstance(s, str) and s != shape[k] for k, s in enumerate(sizes)) or any(
                    not isinstance(shape[k], int) for k, s in enumerate(sizes) if not isinstance(s, str)):
                raise DataDependent("sizes", [str(s) for s in sizes], "output sizes computed at run time")
            attrs["scales"] = [1.0 if isinstance(s, str) else float(s) / shape[k] for k, s in enumerate(sizes)]
        else:
            attrs["sizes"] = ints(sizes)
    else:
        raise DataDependent("scales", ctx.name(2) if ctx.has(2) else None, "scales or sizes must be constants")
    ctx.emit("Resize", [ctx.x(0)], attrs)


@register("Resize", since=10)
def import_resize_10(ctx, node):
    """Opset 10: (X, scales), asymmetric coordinates, nearest rounds down as Upsample did."""
    mode = ctx.attr("mode", "nearest")
    ctx.emit("Resize", [ctx.x(0)], {"mode": mode, "scales": [float(s) for s in ctx.const(1, "scales").reshape(-1)],
                                     "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"})


@register("Upsample", emits=("Resize",))
def import_upsample(ctx, node):
    scales = ctx.attr("scales")
    if scales is None:
        scales = ctx.const(1, "scales").reshape(-1)
    mode = {"bilinear": "linear"}.get(ctx.attr("mode", "nearest"), ctx.attr("mode", "nearest"))
    ctx.emit("Resize", [ctx.x(0)], {"mode": mode, "scales": [float(s) for s in scales],
                                     "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"})


@register("CenterCropPad", emits=("Slice", "Pad"))
def import_center_crop_pad(ctx, node):
    """A Slice for the axes that shrink, then a zero Pad for those that grow; the extra
    sample of an odd difference goes to the end, as in the ONNX reference."""
    shape, target = ctx.shape(0), ints(ctx.const(1, "shape"))
    rank = len(shape) if shape is not None else None
    axes = [a % rank for a in ints(ctx.attr("axes"))] if ctx.attr("axes") is not None and rank else \
        list(range(len(target)))
    if shape is None or any(not isinstance(shape[a], int) for a in axes):
        raise DataDependent("shape", target, "center crop/pad needs static sizes of the axes it changes")
    starts, ends, crop_axes = [], [], []
    pads = [0] * (2 * rank)
    for a, t in zip(axes, target):
        d = shape[a] - t
        if d > 0:
            starts.append(d // 2)
            ends.append(d // 2 + t)
            crop_axes.append(a)
        elif d < 0:
            pads[a], pads[rank + a] = -d // 2, -d - (-d // 2)
    y = ctx.x(0)
    if crop_axes:
        y = ctx.tmp("Slice", [y], starts=starts, ends=ends, axes=crop_axes)
    if any(pads):
        ctx.emit("Pad", [y], {"pads": pads, "mode": "constant", "value": 0.0})
    else:
        ctx.alias(0, y)


@register("GridSample")
def import_grid_sample(ctx, node):
    # opset 16 spelled the modes after torch (bilinear, bicubic); opset 20 after Resize
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(ctx.attr("mode", "linear"), ctx.attr("mode", "linear"))
    ctx.emit("GridSample", [ctx.x(0), ctx.x(1)], {"mode": mode, "padding_mode": ctx.attr("padding_mode", "zeros"),
                                                   "align_corners": int(ctx.attr("align_corners", 0))})


@register("Tile")
def import_tile(ctx, node):
    ctx.emit("Tile", [ctx.x(0)], {"repeats": ints(ctx.const(1, "repeats"))})


@register("Expand")
def import_expand(ctx, node):
    """A dynamic dim in the target shape is kept when the input already has it (1 = keep).
    A shape read from tensor values (a graph input) stays a run-time operand."""
    if ctx.name(1) in ctx.names and ctx.name(1) not in ctx.consts:
        ctx.emit("Expand", [ctx.x(0), ctx.x(1)])
        return
    dims = list(ctx.dims(1, "shape"))
    shape = list(ctx.shape(0) or [])
    shape = [None] * (len(dims) - len(shape)) + shape
    out = []
    for k, d in enumerate(dims):
        if isinstance(d, str):
            if k < len(shape) and shape[k] == d:
                out.append(1)
            else:
                raise DataDependent("shape", [str(x) for x in dims], "expanding to a dynamic size the input lacks")
        else:
            out.append(int(d))
    ctx.emit("Expand", [ctx.x(0)], {"shape": out})


@register("Cast")
def import_cast(ctx, node):
    to = int(ctx.attr("to"))
    if to not in IR_DTYPE:
        raise UnsupportedAttributeError("to", type_name(to), "the IR has no such dtype")
    check_defaults(ctx, ["saturate", "round_mode"])
    ctx.emit("Cast", [ctx.x(0)], {"to": IR_DTYPE[to]})


def _width(dtype: str) -> int:
    return 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize  # numpy has no bfloat16


@register("BitCast")
def import_bitcast(ctx, node):
    to, src = int(ctx.attr("to")), ctx.dtype(0)
    if to not in IR_DTYPE:
        raise UnsupportedAttributeError("to", type_name(to), "the IR has no such dtype")
    if src is None or _width(src) != _width(IR_DTYPE[to]):
        raise UnsupportedAttributeError("to", IR_DTYPE[to], f"a type as wide as the input's ({src})")
    ctx.emit("BitCast", [ctx.x(0)], {"to": IR_DTYPE[to]})


@register("CastLike", emits=("Cast",))
def import_cast_like(ctx, node):
    dtype = ctx.dtype(1)
    if dtype is None:
        raise DataDependent("target_type", ctx.name(1), "the dtype of the second input is unknown")
    c = ctx.maybe_const(0)
    if c is not None and dtype != "bfloat16":  # a constant cast to a run-time value's type stays a constant
        ctx.set_const(0, c.astype(dtype))
        return
    ctx.emit("Cast", [ctx.x(0)], {"to": dtype})


@register("Shape", emits=())  # a constant or symbolic dims
def import_shape(ctx, node):
    shape = ctx.shape(0)
    if shape is None:
        raise DataDependent("shape", ctx.name(0), "the input's rank is unknown")
    start, end = ctx.attr("start", 0), ctx.attr("end")
    ctx.set_dims(0, list(shape)[start:end])


@register("Size", emits=())  # a constant
def import_size(ctx, node):
    shape = ctx.shape(0)
    if shape is None or not all(isinstance(d, int) for d in shape):
        raise DataDependent("shape", ctx.name(0), "the number of elements depends on a dynamic dimension")
    ctx.set_const(0, np.array(int(np.prod(shape)), dtype=np.int64))


@register("EyeLike", emits=())  # a constant: the output depends on the input's shape only
def import_eye_like(ctx, node):
    shape = ctx.shape(0)
    if shape is None or len(shape) != 2 or not all(isinstance(d, int) for d in shape):
        raise DataDependent("shape", ctx.name(0), "EyeLike needs a 2-D input of static shape")
    dtype = IR_DTYPE.get(int(ctx.attr("dtype", 0))) if ctx.attr("dtype") is not None else ctx.dtype(0)
    if dtype is None:
        raise UnsupportedAttributeError("dtype", ctx.attr("dtype"), "an element type the IR has")
    ctx.set_const(0, np.eye(shape[0], shape[1], k=int(ctx.attr("k", 0)), dtype=dtype))


@register("AffineGrid")
def import_affine_grid(ctx, node):
    size, align = ints(ctx.const(1, "size")), int(ctx.attr("align_corners", 0))
    if align and 1 in size[2:]:  # 2 / (n - 1): onnxruntime puts it at +1, the reference at -1, torch at 0
        raise UnsupportedAttributeError("align_corners", align, f"a size-1 spatial axis (size {size}) with "
                                        "align_corners=1 has no defined ONNX coordinate")
    ctx.emit("AffineGrid", [ctx.x(0)], {"size": size, "align_corners": align})


@register("Col2Im")
def import_col2im(ctx, node):
    from .common import ir_attrs

    ctx.emit("Col2Im", [ctx.x(0)], ir_attrs(ctx, "Col2Im", image_shape=ints(ctx.const(1, "image_shape")),
                                             block_shape=ints(ctx.const(2, "block_shape"))))
