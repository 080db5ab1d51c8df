"""Convolutions. Keras kernels are transposed once here into the IR's OI(D)HW order."""
from __future__ import annotations

import math

import numpy as np

from .. import layout as L
from ..context import Call, KerasContext, Ref, tup, unsupported
from ..registry import register
from . import activations


def spatial_layout(call: Call, rank: int) -> tuple:
    """The layout in which the IR op sees a Keras tensor of this layer: NC(D)HW."""
    fmt = call.get("data_format") or "channels_last"
    if fmt not in ("channels_last", "channels_first"):
        raise unsupported("data_format", fmt)
    return L.identity(rank) if fmt == "channels_first" else L.channels_first(rank)


def spatial_dims(call: Call, shape: tuple) -> tuple:
    fmt = call.get("data_format") or "channels_last"
    return tuple(shape[2:]) if fmt == "channels_first" else tuple(shape[1:-1])


def channels(call: Call, shape: tuple) -> int:
    fmt = call.get("data_format") or "channels_last"
    return shape[1] if fmt == "channels_first" else shape[-1]


def same_pads(sizes, kernel, strides, dilations, padding: str) -> tuple[list[int], list[int]]:
    """Explicit (begin, end) pads for Keras/TF padding; 'same' puts the odd pixel at the end."""
    begin, end = [], []
    for n, k, s, d in zip(sizes, kernel, strides, dilations):
        keff = (k - 1) * d + 1
        if padding == "valid":
            total = 0
        elif padding == "causal":
            begin.append(keff - 1)
            end.append(0)
            continue
        elif padding == "same":
            if s == 1:
                total = keff - 1
            elif n is None:
                raise unsupported("padding", "same", f"with stride {s} needs a fixed spatial size (pass input_shapes)")
            else:
                total = max((math.ceil(n / s) - 1) * s + keff - n, 0)
        else:
            raise unsupported("padding", padding)
        begin.append(total // 2)
        end.append(total - total // 2)
    return begin, end


def open_same(sizes, strides, padding: str) -> bool:
    """'same' padding whose pads depend on a spatial size known only at run time: the IR
    says auto_pad=SAME_UPPER (TF's rule, extra pixel at the end) instead of pads."""
    return padding == "same" and any(n is None and s > 1 for n, s in zip(sizes, strides))


def geometry(sizes, kernel, strides, dilations, padding: str) -> tuple[dict, list]:
    """Padding attributes and output spatial sizes of a Keras conv/pool window."""
    if open_same(sizes, strides, padding):
        return {"auto_pad": "SAME_UPPER"}, [None if n is None else -(-n // s) for n, s in zip(sizes, strides)]
    begin, end = same_pads(sizes, kernel, strides, dilations, padding)
    out = [out_size(n, k, s, d, b, e) for n, k, s, d, b, e in zip(sizes, kernel, strides, dilations, begin, end)]
    return {"pads": begin + end}, out


def out_size(n, k, s, d, b, e):
    if n is None:
        return None
    return (n + b + e - ((k - 1) * d + 1)) // s + 1


def _out_shape(call: Call, shape: tuple, spatial: list, filters: int) -> tuple:
    fmt = call.get("data_format") or "channels_last"
    return (shape[0], filters, *spatial) if fmt == "channels_first" else (shape[0], *spatial, filters)


def conv_common(ctx: KerasContext, call: Call, w_ir: np.ndarray, bias, filters: int, group: int,
                x_ref: Ref | None = None, x_value: str | None = None, finish: bool = True):
    r = x_ref or call.inputs[0]
    nd = r.rank - 2
    perm = spatial_layout(call, r.rank)
    k = tup(call.get("kernel_size"), nd)
    s = tup(call.get("strides", 1), nd)
    d = tup(call.get("dilation_rate", 1), nd)
    if any(x > 1 for x in s) and any(x > 1 for x in d):
        raise unsupported("dilation_rate", d, "Keras rejects strides > 1 together with dilation > 1")
    sizes = spatial_dims(call, r.shape)
    padding, spatial = geometry(sizes, k, s, d, call.get("padding", "valid"))
    activations.check(call.get("activation"))
    x = x_value or ctx.get(r, perm)
    ins = [x, ctx.const("kernel", w_ir)]
    if bias is not None:
        ins.append(ctx.const("bias", bias))
    y = ctx.node("Conv", ins, {"kernel_shape": list(k), "strides": list(s), "dilations": list(d),
                               **padding, "group": int(group)})[0]
    if finish:
        y = activations.apply(ctx, y, perm, call.get("activation"))
    return [ctx.ref(y, _out_shape(call, r.shape, spatial, filters), perm)]


@register("Conv1D", "Conv2D", "Conv3D", emits=("Conv", *activations.ACTIVATION_OPS))
def import_conv(ctx: KerasContext, node: Call) -> list[Ref]:
    r = node.inputs[0]
    nd = r.rank - 2
    k = tup(node.get("kernel_size"), nd)
    groups = int(node.get("groups", 1) or 1)
    cin, f = channels(node, r.shape), int(node.get("filters"))
    arrays = node.take((*k, cin // groups if cin else None, f), *([(f,)] if node.get("use_bias", True) else []))
    w = np.transpose(arrays[0], L.kernel_to_oihw(nd + 2))
    return conv_common(ctx, node, w, arrays[1] if len(arrays) > 1 else None, f, groups)


@register("DepthwiseConv1D", "DepthwiseConv2D", emits=("Conv", *activations.ACTIVATION_OPS))
def import_depthwise_conv(ctx: KerasContext, node: Call) -> list[Ref]:
    r = node.inputs[0]
    nd = r.rank - 2
    k = tup(node.get("kernel_size"), nd)
    cin, mult = channels(node, r.shape), int(node.get("depth_multiplier", 1))
    arrays = node.take((*k, cin, mult), *([(cin * mult,)] if node.get("use_bias", True) else []))
    # (*k, C, M) -> (*k, 1, C*M) -> (C*M, 1, *k): output channel c*M + m, as Keras orders it.
    w = np.transpose(arrays[0].reshape(*k, 1, cin * mult), L.kernel_to_oihw(nd + 2))
    return conv_common(ctx, node, w, arrays[1] if len(arrays) > 1 else None, cin * mult, cin)


@register("SeparableConv1D", "SeparableConv2D", emits=("Conv", *activations.ACTIVATION_OPS))
def import_separable_conv(ctx: KerasContext, node: Call) -> list[Ref]:
    """Depthwise (with the layer's strides, padding, dilation) then a 1x1 pointwise conv."""
    r = node.inputs[0]
    nd = r.rank - 2
    k = tup(node.get("kernel_size"), nd)
    cin, mult, f = channels(node, r.shape), int(node.get("depth_multiplier", 1)), int(node.get("filters"))
    arrays = node.take((*k, cin, mult), (*([1] * nd), cin * mult, f),
                       *([(f,)] if node.get("use_bias", True) else []))
    dw = np.transpose(arrays[0].reshape(*k, 1, cin * mult), L.kernel_to_oihw(nd + 2))
    mid = conv_common(ctx, node, dw, None, cin * mult, cin, finish=False)[0]
    perm = spatial_layout(node, r.rank)
    pw = np.transpose(arrays[1], L.kernel_to_oihw(nd + 2))
    ins = [ctx.get(mid, perm), ctx.const("pointwise_kernel", pw)]
    if len(arrays) > 2:
        ins.append(ctx.const("bias", arrays[2]))
    y = ctx.node("Conv", ins, {"kernel_shape": [1] * nd}, suffix="pointwise")[0]
    y = activations.apply(ctx, y, perm, node.get("activation"))
    shape = list(mid.shape)
    shape[1 if (node.get("data_format") == "channels_first") else -1] = f
    return [ctx.ref(y, tuple(shape), perm)]


@register("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
          emits=("ConvTranspose", *activations.ACTIVATION_OPS))
def import_conv_transpose(ctx: KerasContext, node: Call) -> list[Ref]:
    """Keras computes the output size, then runs TF's conv_transpose with SAME/VALID; the
    pads and output_padding here reproduce exactly that size and alignment."""
    r = node.inputs[0]
    nd = r.rank - 2
    perm = spatial_layout(node, r.rank)
    k = tup(node.get("kernel_size"), nd)
    s = tup(node.get("strides", 1), nd)
    d = tup(node.get("dilation_rate", 1), nd)
    op = node.get("output_padding")
    padding = node.get("padding", "valid")
    if padding not in ("same", "valid"):
        raise unsupported("padding", padding)
    if int(node.get("groups", 1) or 1) != 1:
        raise unsupported("groups", node.get("groups"))
    cin, f = channels(node, r.shape), int(node.get("filters"))
    arrays = node.take((*k, f, cin), *([(f,)] if node.get("use_bias", True) else []))
    w = np.transpose(arrays[0], L.kernel_to_oihw(nd + 2))  # (*k, out, in) -> (in, out, *k)
    activations.check(node.get("activation"))
    begin, end, outpad, spatial = [], [], [], []
    for i in range(nd):
        keff = (k[i] - 1) * d[i] + 1
        n = spatial_dims(node, r.shape)[i]
        if op is None:
            # total = (n-1)*s + keff - O with O = n*s + max(keff-s, 0) (valid) or n*s (same)
            total = (keff - s[i] - max(keff - s[i], 0)) if padding == "valid" else keff - s[i]
        else:
            p = keff // 2 if padding == "same" else 0
            total = 2 * p - tup(op, nd)[i]
        if total >= 0:
            begin.append(total // 2)
            end.append(total - total // 2)
            outpad.append(0)
        else:
            begin.append(0)
            end.append(0)
            outpad.append(-total)
        spatial.append(None if n is None else (n - 1) * s[i] + keff - total)
    ins = [ctx.get(r, perm), ctx.const("kernel", w)]
    if len(arrays) > 1:
        ins.append(ctx.const("bias", arrays[1]))
    y = ctx.node("ConvTranspose", ins, {"kernel_shape": list(k), "strides": list(s), "dilations": list(d),
                                        "pads": begin + end, "output_padding": outpad})[0]
    y = activations.apply(ctx, y, perm, node.get("activation"))
    return [ctx.ref(y, _out_shape(node, r.shape, spatial, f), perm)]
