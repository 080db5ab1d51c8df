"""Convolution, pooling, normalisation and dense layers as built-in Keras layers (channels-last)."""
from __future__ import annotations

import numpy as np

from ...ir.windows import pool_out_size, same_pads
from .. import channels_last as L
from .context import KerasContext, attr, unsupported_attr
from .registry import register
from ..common import bias_add_after

_ND = {1: "1D", 2: "2D", 3: "3D"}


def _const(ctx: KerasContext, node, i: int, what: str) -> np.ndarray | None:
    if i >= len(node.inputs) or not node.inputs[i]:
        return None
    w = ctx.weight(node.inputs[i])
    if w is None:
        raise unsupported_attr(what, node.inputs[i], "a Keras layer needs constant weights")
    return w


def _geometry(node, nd: int):
    strides = tuple(attr(node, "strides") or [1] * nd)
    dil = tuple(attr(node, "dilations") or [1] * nd)
    pads = list(attr(node, "pads") or [0] * (2 * nd))
    return strides, dil, pads[:nd], pads[nd:]


def _is_same(spatial, kernel, strides, dil, begin, end) -> bool:
    if any(s is None for s in spatial):
        return False
    return all(same_pads(n, k, s, d) == (b, e) for n, k, s, d, b, e in zip(spatial, kernel, strides, dil, begin, end))


def _auto_same(node) -> bool:
    return attr(node, "auto_pad") == "SAME_UPPER"


def _zero_pad(ctx: KerasContext, node, x, begin, end):
    nd = len(begin)
    pad = tuple((int(b), int(e)) for b, e in zip(begin, end))
    return ctx.layers.__dict__[f"ZeroPadding{_ND[nd]}"](pad[0] if nd == 1 else pad, name=ctx.name(node, "pad"))(x)


@register("Conv")
def export_conv(ctx: KerasContext, node):
    w, b = _const(ctx, node, 1, "W"), _const(ctx, node, 2, "B")
    nd = w.ndim - 2
    if nd not in _ND:
        raise unsupported_attr("kernel_shape", list(w.shape[2:]))
    strides, dil, begin, end = _geometry(node, nd)
    if any(d != 1 for d in dil) and any(st != 1 for st in strides):
        raise unsupported_attr("dilations", list(dil), "Keras convolutions cannot combine strides and dilation")
    group = attr(node, "group")
    cl = L.channels_last(nd + 2)
    x = ctx.get(node.inputs[0], cl)
    spatial = ctx.ir_shape(node.inputs[0])[2:]
    kernel = tuple(int(k) for k in w.shape[2:])
    padding = "same" if _auto_same(node) else "valid"  # TF's 'same' is auto_pad=SAME_UPPER exactly
    if any(begin) or any(end):
        if _is_same(spatial, kernel, strides, dil, begin, end):
            padding = "same"
        else:
            x = _zero_pad(ctx, node, x, begin, end)
    c_in = w.shape[1] * group
    act, out = ctx.fuse_activation(node.outputs[0])
    if group == c_in and group > 1 and nd == 2:  # depthwise: (C*mult, 1, kh, kw) -> (kh, kw, C, mult)
        mult = w.shape[0] // group
        kw = w.reshape(group, mult, *kernel).transpose(2, 3, 0, 1)
        layer = ctx.layers.DepthwiseConv2D(kernel, strides=strides, padding=padding, depth_multiplier=mult,
                                           dilation_rate=dil, use_bias=b is not None, activation=act,
                                           name=ctx.name(node))
    else:
        kw = w.transpose(L.OIHW_TO_HWIO[w.ndim])
        layer = ctx.layers.__dict__[f"Conv{_ND[nd]}"](int(w.shape[0]), kernel, strides=strides, padding=padding,
                                                      dilation_rate=dil, groups=group, use_bias=b is not None,
                                                      activation=act, name=ctx.name(node))
    ctx.put(out, ctx.call(layer, x, [kw] + ([b] if b is not None else [])), cl)


@register("ConvTranspose")
def export_conv_transpose(ctx: KerasContext, node):
    w, b = _const(ctx, node, 1, "W"), _const(ctx, node, 2, "B")
    nd = w.ndim - 2
    if nd not in _ND or attr(node, "group") != 1:
        raise unsupported_attr("group", attr(node, "group"), "Keras ConvTranspose has no groups")
    strides, dil, begin, end = _geometry(node, nd)
    out_pad = tuple(attr(node, "output_padding") or [0] * nd)
    if any(d != 1 for d in dil) and any(s != 1 for s in strides):
        raise unsupported_attr("dilations", list(dil), "Keras cannot combine strides and dilation here")
    cl = L.channels_last(nd + 2)
    x = ctx.get(node.inputs[0], cl)
    act, out = ctx.fuse_activation(node.outputs[0])  # element-wise: commutes with the crop below
    # 'valid' with explicit output_padding gives the full (uncropped) output; pads crop it.
    layer = ctx.layers.__dict__[f"Conv{_ND[nd]}Transpose"](
        int(w.shape[1]), tuple(int(k) for k in w.shape[2:]), strides=strides, padding="valid",
        output_padding=out_pad if any(out_pad) else None, dilation_rate=dil, use_bias=b is not None,
        activation=act, name=ctx.name(node))
    y = ctx.call(layer, x, [w.transpose(L.OIHW_TO_HWIO[w.ndim])] + ([b] if b is not None else []))
    if any(begin) or any(end):
        crop = tuple((int(p), int(q)) for p, q in zip(begin, end))
        y = ctx.layers.__dict__[f"Cropping{_ND[nd]}"](crop[0] if nd == 1 else crop, name=ctx.name(node, "crop"))(y)
    ctx.put(out, y, cl)


def _edge_pad(ctx: KerasContext, node, x, spatial, begin, end):
    """Pad by repeating the edge values: exact for max pooling with -inf padding whenever every
    window holds at least one real element (pads < kernel, no dilation)."""
    nd = len(spatial)
    crop_layer = ctx.layers.__dict__[f"Cropping{_ND[nd]}"]
    sizes = list(spatial)
    for ax in range(nd):
        if not begin[ax] and not end[ax]:
            continue
        parts = []
        for count, first in ((begin[ax], True), (end[ax], False)):
            if not count:
                parts.append([])
                continue
            crop = [(0, 0)] * nd
            crop[ax] = (0, sizes[ax] - 1) if first else (sizes[ax] - 1, 0)
            edge = crop_layer(crop[0] if nd == 1 else tuple(crop), name=ctx.name(node, "edge"))(x)
            parts.append([edge] * count)
        x = ctx.layers.Concatenate(axis=ax + 1, name=ctx.name(node, "edge_pad"))(parts[0] + [x] + parts[1])
        sizes[ax] += begin[ax] + end[ax]
    return x


@register("MaxPool", "AveragePool")
def export_pool(ctx: KerasContext, node):
    kernel = tuple(int(k) for k in attr(node, "kernel_shape"))
    nd = len(kernel)
    if nd not in _ND:
        raise unsupported_attr("kernel_shape", list(kernel))
    strides, dil, begin, end = _geometry(node, nd)
    if any(d != 1 for d in dil):
        raise unsupported_attr("dilations", list(dil), "Keras pooling has no dilation")
    if len(node.outputs) > 1 and node.outputs[1]:
        raise unsupported_attr("Indices", node.outputs[1])
    cl = L.channels_last(nd + 2)
    x = ctx.get(node.inputs[0], cl)
    spatial = ctx.ir_shape(node.inputs[0])[2:]
    if any(s is None for s in spatial) and (any(begin) or any(end) or attr(node, "ceil_mode")):
        raise unsupported_attr("pads", list(begin) + list(end), "padded pooling needs static spatial sizes")
    ceil = bool(attr(node, "ceil_mode"))
    end = list(end)
    if ceil:  # the ceil overhang becomes end padding of the same kind as the pads
        for i, (n, k, s, b, e) in enumerate(zip(spatial, kernel, strides, begin, end)):
            out = pool_out_size(n, k, s, b, e, True)
            end[i] = max(e, (out - 1) * s + k - n - b)
    is_max = node.op == "MaxPool"
    include = not is_max and bool(attr(node, "count_include_pad"))
    overhang = any(e != e0 for e, e0 in zip(end, _geometry(node, nd)[3]))
    padding = "valid"
    if _auto_same(node):
        if include:
            raise unsupported_attr("count_include_pad", 1, "Keras 'same' average pooling leaves padding out")
        padding = "same"  # TF 'same' pooling: -inf for max, left out of the mean, as SAME_UPPER here
    elif any(begin) or any(end):
        if not include and _is_same(spatial, kernel, strides, dil, begin, end):
            padding = "same"  # TF 'same' pooling ignores padding: -inf for max, left out of the mean
        elif is_max:
            if any(b >= k or e >= k for b, e, k in zip(begin, end, kernel)):
                raise unsupported_attr("pads", list(begin) + list(end), "pads must be smaller than the kernel")
            x = _edge_pad(ctx, node, x, spatial, begin, end)
        elif include and not overhang:
            x = _zero_pad(ctx, node, x, begin, end)
        else:
            raise unsupported_attr("pads", list(begin) + list(_geometry(node, nd)[3]),
                                   "this average pooling padding has no exact Keras form")
    kind = "MaxPooling" if is_max else "AveragePooling"
    layer = ctx.layers.__dict__[f"{kind}{_ND[nd]}"](kernel if nd > 1 else kernel[0],
                                                    strides=strides if nd > 1 else strides[0], padding=padding,
                                                    name=ctx.name(node))
    ctx.put(node.outputs[0], layer(x), cl)


@register("GlobalAveragePool", "GlobalMaxPool")
def export_global_pool(ctx: KerasContext, node):
    rank = ctx.rank(node.inputs[0])
    if rank - 2 not in _ND:
        raise unsupported_attr("rank", rank)
    cl = L.channels_last(rank)
    kind = "GlobalAveragePooling" if node.op == "GlobalAveragePool" else "GlobalMaxPooling"
    layer = ctx.layers.__dict__[f"{kind}{_ND[rank - 2]}"](keepdims=True, name=ctx.name(node))
    ctx.put(node.outputs[0], layer(ctx.get(node.inputs[0], cl)), cl)


@register("BatchNormalization")
def export_batchnorm(ctx: KerasContext, node):
    ws = [_const(ctx, node, i, n) for i, n in enumerate(("scale", "B", "mean", "var"), 1)]
    t, have = ctx.raw(node.inputs[0])
    if len(have) > 2 and have.index(1) == 0:
        raise unsupported_attr("layout", list(have))
    # Any layout works: BatchNormalization takes the channel axis wherever it lies.
    layer = ctx.layers.BatchNormalization(axis=L.keras_axis(have, 1), epsilon=float(attr(node, "epsilon")),
                                          name=ctx.name(node))
    ctx.put(node.outputs[0], ctx.call(layer, t, ws), have)


@register("RMSNormalization")
def export_rmsnorm(ctx: KerasContext, node):
    scale = _const(ctx, node, 1, "scale")
    t, have = ctx.raw(node.inputs[0])
    shape = ctx.ir_shape(node.inputs[0])
    axes = list(range(attr(node, "axis") % len(have), len(have)))
    if axes[0] == 0 or any(not isinstance(shape[a], int) for a in axes):
        raise unsupported_attr("axis", attr(node, "axis"), "Keras normalises static non-batch axes only")
    # Keras holds one scale entry per normalised element, its axes in sorted (Keras) order.
    full = np.broadcast_to(scale, [shape[a] for a in axes])
    kaxes = [L.keras_axis(have, a) for a in axes]
    order = sorted(range(len(axes)), key=lambda i: kaxes[i])
    layer = ctx.layers.RMSNormalization(axis=sorted(kaxes), epsilon=float(attr(node, "epsilon")), name=ctx.name(node))
    ctx.put(node.outputs[0], ctx.call(layer, t, [np.transpose(full, order)]), have)


def _dense(node, ctx: KerasContext, x_value: str, kernel: np.ndarray, bias: np.ndarray | None, out_value: str):
    if x_value in ctx.flat_rows:  # the Flatten before ran on channels-last data: reorder the rows instead
        kernel = kernel[ctx.flat_rows[x_value]]
        x, have = ctx.raw(x_value)
    else:
        t, have = ctx.raw(x_value)
        if have[-1] != len(have) - 1:
            have = L.identity(len(have))
        x = ctx.get(x_value, have)
    act, out_value = ctx.fuse_activation(out_value)
    layer = ctx.layers.Dense(int(kernel.shape[1]), use_bias=bias is not None, activation=act, name=ctx.name(node))
    ctx.put(out_value, ctx.call(layer, x, [kernel] + ([bias] if bias is not None else [])), have)


@register("Gemm")
def export_gemm(ctx: KerasContext, node):
    w, c = _const(ctx, node, 1, "B"), _const(ctx, node, 2, "C")
    if attr(node, "transA") or float(attr(node, "alpha")) != 1.0:
        raise unsupported_attr("transA/alpha", [attr(node, "transA"), attr(node, "alpha")])
    kernel = w.T if attr(node, "transB") else w
    bias = None
    if c is not None:
        if c.size not in (1, kernel.shape[1]) or c.ndim > 2 or (c.ndim == 2 and c.shape[0] != 1):
            raise unsupported_attr("C", list(c.shape), "a per-output bias")
        bias = np.broadcast_to(float(attr(node, "beta")) * c.reshape(-1), (kernel.shape[1],)).astype(np.float32)
    _dense(node, ctx, node.inputs[0], np.ascontiguousarray(kernel), bias, node.outputs[0])


@register("MatMul")
def export_matmul(ctx: KerasContext, node):
    if ctx.weight(node.inputs[1]) is None:  # two computed operands (swin_t's attention scores)
        a, b = node.inputs
        if ctx.weight(a) is not None or min(ctx.rank(a), ctx.rank(b)) < 2:
            raise unsupported_attr("B", b, "a constant 2-D weight, or two computed operands of rank >= 2")
        ctx.put(node.outputs[0], ctx.keras.ops.matmul(ctx.get(a), ctx.get(b)))
        return
    w = _const(ctx, node, 1, "B")
    if w.ndim != 2:
        raise unsupported_attr("B", list(w.shape), "Dense needs a 2-D weight")
    fused = bias_add_after(ctx, node, int(w.shape[1]))
    bias, out = (fused[1], fused[0].outputs[0]) if fused else (None, node.outputs[0])
    _dense(node, ctx, node.inputs[0], w, bias, out)


def flatten_into_dense(node, ctx: KerasContext) -> bool:
    """Flatten channels-last data without a Permute when only Dense layers read the result:
    their kernel rows absorb the element order. Returns False when that does not apply."""
    t, have = ctx.raw(node.inputs[0])
    dense_only = all(c.op in ("Gemm", "MatMul") and c.inputs[0] == node.outputs[0]
                     for c in ctx.consumers.get(node.outputs[0], [])) and node.outputs[0] not in ctx.graph_outputs
    ir_dims = ctx.ir_shape(node.inputs[0])[1:]
    if have == L.identity(len(have)) or not dense_only or None in ir_dims or have[0] != 0:
        return False
    ctx.flat_rows[node.outputs[0]] = L.flat_order(ir_dims, have)
    ctx.put(node.outputs[0], ctx.layers.Flatten(name=ctx.name(node))(t))
    return True


@register("Flatten")
def export_flatten(ctx: KerasContext, node):
    if attr(node, "axis") != 1:
        raise unsupported_attr("axis", attr(node, "axis"), "Keras Flatten keeps the batch axis only")
    if not flatten_into_dense(node, ctx):
        ctx.put(node.outputs[0], ctx.layers.Flatten(name=ctx.name(node))(ctx.get(node.inputs[0])))
