"""Reshapes, transposes, concatenation, padding and resizing as LiteRT builtins.

A Transpose costs nothing (the value is re-labelled with a new layout); a reshape needs
IR element order only when the stored order differs (``keeps_order``), so a
channels-last (N, 1, 1, C) flattens without a TRANSPOSE."""
from __future__ import annotations

import numpy as np

from ..channels_last import after_transpose, flat_order
from ...ir.perm import identity
from .context import TFLiteContext, attr, channels_last, keeps_order, unsupported_attr
from .indexing import wrapped_indices
from .registry import register
from .reshape_layout import grouped_layout


@register("Reshape", "Flatten", "Squeeze", "Unsqueeze")
def export_reshape(ctx: TFLiteContext, node) -> None:
    x, out = node.inputs[0], node.outputs[0]
    if len(node.inputs) > 1 and node.inputs[1]:
        raise unsupported_attr("like", node.inputs[1], "sizes known when the model is written (LiteRT RESHAPE)")
    perm = ctx.perm(x)
    want, out_perm = perm, None
    grouped = grouped_layout(perm, ctx.ir_shape(x), ctx.ir_shape(out))
    if grouped is not None and grouped[0] == perm:  # the stored layout carries over as it is
        out_perm = grouped[1]
    elif not keeps_order(perm, ctx.ir_shape(x)):
        if _flattens_into_dense(node, ctx, perm):
            ctx.flat_rows[out] = flat_order(ctx.ir_shape(x)[1:], perm)
        else:  # the stored layout with a run put in order where the reshape allows it, else IR order
            want, out_perm = grouped or (identity(len(perm)), None)
    shape = ctx.ir_shape(out)
    xi = ctx.get(x, want)
    sizes = ctx.reshape_dims([shape[p] for p in out_perm] if out_perm else shape, xi,
                             [ctx.ir_shape(x)[p] for p in want], f"{node.name}/shape")
    y = ctx.out(out, out_perm)
    if out in ctx.flat_rows:  # not in IR order, so not comparable layer by layer
        ctx.layouts.pop(ctx.tensors[y].name)
    ctx.op("RESHAPE", [xi, sizes], [y])


def _flattens_into_dense(node, ctx: TFLiteContext, perm) -> bool:
    """A (N, ...) -> (N, K) flatten read only by a dense layer with constant weights: the
    dense layer absorbs the stored element order (its kernel columns are permuted), as
    the Keras writer does, instead of a TRANSPOSE."""
    x, out = node.inputs[0], node.outputs[0]
    shape = ctx.ir_shape(x)
    users = ctx.consumers.get(out, [])
    if perm[0] != 0 or len(ctx.ir_shape(out)) != 2 or not all(isinstance(d, int) for d in shape[1:]):
        return False
    if len(users) != 1 or out in ctx.graph_outputs or users[0].inputs[0] != out:
        return False
    dense = users[0]
    if dense.op not in ("Gemm", "MatMul") or (dense.op == "Gemm" and attr(dense, "transA")):
        return False
    w = ctx.weight(dense.inputs[1])
    return w is not None and w.ndim == 2


@register("Transpose")
def export_transpose(ctx: TFLiteContext, node) -> None:
    x = node.inputs[0]
    rank = len(ctx.ir_shape(x))
    perm = tuple(attr(node, "perm") or reversed(range(rank)))
    have = ctx.perm(x)
    ctx.put(node.outputs[0], ctx.get(x, have), after_transpose(have, perm))


@register("Concat")
def export_concat(ctx: TFLiteContext, node) -> None:
    rank = len(ctx.ir_shape(node.outputs[0]))
    perm = next((ctx.perm(v) for v in node.inputs if ctx.has(v)), identity(rank))
    ins = [ctx.get(v, perm) for v in node.inputs]
    ctx.op("CONCATENATION", ins, [ctx.out(node.outputs[0], perm)], "ConcatenationOptions",
           axis=perm.index(attr(node, "axis") % rank))


@register("Pad")
def export_pad(ctx: TFLiteContext, node) -> None:
    x = node.inputs[0]
    rank = len(ctx.ir_shape(x))
    pads = [int(p) for p in attr(node, "pads")]
    if any(p < 0 for p in pads):
        raise unsupported_attr("pads", pads, "negative pads (crops)")
    mode, value = attr(node, "mode"), float(attr(node, "value") or 0.0)
    perm = ctx.perm(x)
    paddings = ctx.ints([[pads[p], pads[p + rank]] for p in perm], f"{node.name}/pads")
    ins = [ctx.get(x, perm), paddings]
    y = ctx.out(node.outputs[0], perm)
    if mode == "constant" and value == 0.0:
        ctx.op("PAD", ins, [y])
    elif mode == "constant":
        ctx.op("PADV2", ins + [ctx.const(np.array(value, np.float32), f"{node.name}/value")], [y])
    elif mode == "reflect":
        ctx.op("MIRROR_PAD", ins, [y], "MirrorPadOptions", mode=0)
    else:
        raise unsupported_attr("mode", mode, "LiteRT pads with a constant or by reflection")


@register("Resize")
def export_resize(ctx: TFLiteContext, node) -> None:
    x, out = node.inputs[0], node.outputs[0]
    ys = ctx.ir_shape(out)
    if len(ys) != 4 or not all(isinstance(d, int) for d in ys[2:]):
        raise unsupported_attr("sizes", list(ys), "2-D resizing to a static size")
    mode, coord = attr(node, "mode"), attr(node, "coordinate_transformation_mode")
    if attr(node, "antialias"):
        raise unsupported_attr("antialias", 1, "LiteRT resizes without an antialiasing filter")
    flags = {"half_pixel": (False, True), "pytorch_half_pixel": (False, True), "align_corners": (True, False),
             "asymmetric": (False, False)}
    if coord not in flags:
        raise unsupported_attr("coordinate_transformation_mode", coord)
    align, half = flags[coord]
    if mode == "nearest":
        if coord != "asymmetric" or attr(node, "nearest_mode") != "floor":
            raise unsupported_attr("nearest_mode", f"{coord}/{attr(node, 'nearest_mode')}",
                                   "LiteRT's nearest resize exactly: asymmetric + floor")
        code, options = "RESIZE_NEAREST_NEIGHBOR", "ResizeNearestNeighborOptions"
    elif mode == "linear":
        code, options = "RESIZE_BILINEAR", "ResizeBilinearOptions"
    else:
        raise unsupported_attr("mode", mode, "nearest or linear")
    nhwc = channels_last(4)
    ctx.op(code, [ctx.get(x, nhwc), ctx.ints(list(ys[2:]), f"{node.name}/size")], [ctx.out(out, nhwc)], options,
           alignCorners=align, halfPixelCenters=half)


_I32 = 2**31 - 1


@register("Slice")
def export_slice(ctx: TFLiteContext, node) -> None:
    x = node.inputs[0]
    rank = len(ctx.ir_shape(x))
    starts, ends = list(attr(node, "starts")), list(attr(node, "ends"))
    axes = [a % rank for a in (attr(node, "axes") or range(len(starts)))]
    steps = list(attr(node, "steps") or [1] * len(starts))
    perm = ctx.perm(x)
    begin, end, stride = [0] * rank, [0] * rank, [1] * rank
    begin_mask = end_mask = 0
    for i, p in enumerate(perm):  # stored axis i holds IR axis p
        if p not in axes:
            begin_mask |= 1 << i
            end_mask |= 1 << i
            continue
        k = axes.index(p)
        begin[i], stride[i] = int(np.clip(starts[k], -_I32, _I32)), int(steps[k])
        if abs(ends[k]) >= _I32:  # INT64 max/min: to the end in the step's direction
            end_mask |= 1 << i
        else:
            end[i] = int(ends[k])
    ins = [ctx.get(x, perm), ctx.ints(begin, f"{node.name}/begin"), ctx.ints(end, f"{node.name}/end"),
           ctx.ints(stride, f"{node.name}/strides")]
    ctx.op("STRIDED_SLICE", ins, [ctx.out(node.outputs[0], perm)], "StridedSliceOptions",
           beginMask=begin_mask, endMask=end_mask)


@register("Split")
def export_split(ctx: TFLiteContext, node) -> None:
    """SPLIT (equal parts) or SPLIT_V (sizes) along the stored position of the IR axis; every
    part keeps the input's layout."""
    x = node.inputs[0]
    perm = ctx.perm(x)
    rank = len(perm)
    axis = perm.index(int(attr(node, "axis")) % rank)
    if not all(node.outputs):  # an unused part still needs its real shape
        raise unsupported_attr("outputs", node.outputs, "every part of a split must be named")
    outs = [ctx.out(o, perm) for o in node.outputs]
    sizes = attr(node, "split")
    xi, axis_t = ctx.get(x, perm), ctx.ints(axis, f"{node.name}/axis")
    if sizes is None:
        ctx.op("SPLIT", [axis_t, xi], outs, "SplitOptions", numSplits=len(outs))
    else:
        ctx.op("SPLIT_V", [xi, ctx.ints([int(s) for s in sizes], f"{node.name}/sizes"), axis_t], outs,
               "SplitVOptions", numSplits=len(outs))


@register("Gather")
def export_gather(ctx: TFLiteContext, node) -> None:
    """GATHER along the stored position of the IR axis; negative indices count from the end
    (LiteRT's GATHER takes none): constant ones are made positive here, computed ones by
    ``wrapped_indices``. The indices' axes take the gathered axis' place in the stored layout."""
    x, idx = node.inputs
    shape = ctx.ir_shape(x)
    axis = int(attr(node, "axis")) % len(shape)
    perm = ctx.perm(x)
    data = ctx.get(x, perm)
    w = ctx.weight(idx)
    if w is None:
        r = len(ctx.ir_shape(idx))
        indices = wrapped_indices(ctx, idx, data, perm.index(axis), node.name)
    else:
        n = shape[axis]
        w = np.asarray(w).astype(np.int64)
        if (w < 0).any() and not isinstance(n, int):
            raise unsupported_attr("indices", idx, "non-negative indices along a dynamic axis")
        w = np.where(w < 0, w + (n if isinstance(n, int) else 0), w)
        r = w.ndim
        indices = ctx.ints(w, f"{node.name}/indices")
    out_perm: list[int] = []
    for p in perm:
        out_perm += list(range(axis, axis + r)) if p == axis else [p if p < axis else p + r - 1]
    ctx.op("GATHER", [data, indices], [ctx.out(node.outputs[0], tuple(out_perm))], "GatherOptions",
           axis=perm.index(axis))


@register("Expand")
def export_expand(ctx: TFLiteContext, node) -> None:
    """ONNX's two-way broadcast: BROADCAST_TO the sizes BROADCAST_ARGS computes from the
    input's and the requested ones (BROADCAST_TO alone is one-way: a requested 1 where
    the input has 3 fails there). A shape read at run time is that operand's tensor; a
    constant one is stored as such a tensor."""
    x, out = node.inputs[0], node.outputs[0]
    rank = len(ctx.ir_shape(x))
    xi = ctx.get(x, identity(rank))
    if len(node.inputs) > 1 and node.inputs[1]:
        want = ctx.get(node.inputs[1])
    else:
        want = ctx.tensor(f"{node.name}/shape", [len(attr(node, "shape"))], "int64",
                          np.asarray(attr(node, "shape"), np.int64))
    int_type = ctx.tensors[want].type  # BROADCAST_ARGS takes two shapes of one type
    dt = "int64" if int_type == ctx.S.TensorType.INT64 else "int32"
    have = ctx.tensor(f"{node.name}/input_shape", [rank], dt)
    ctx.op("SHAPE", [xi], [have], "ShapeOptions", outType=int_type)
    sizes = ctx.tensor(f"{node.name}/sizes", [len(ctx.ir_shape(out))], dt)
    ctx.op("BROADCAST_ARGS", [have, want], [sizes])
    ctx.op("BROADCAST_TO", [xi, sizes], [ctx.out(out)])
