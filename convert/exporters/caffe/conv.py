"""Conv -> Convolution, ConvTranspose -> Deconvolution, Gemm / MatMul -> InnerProduct."""
from __future__ import annotations

import numpy as np

from ...ir.graph import Node
from ..common import fixed_pads_only
from .context import attr, bad
from .registry import register


def _set_geometry(p, kernel, strides, pads, dilations) -> None:
    """Write per-axis values in Caffe's repeated (N-d) spelling, one value when all agree."""
    for field, vals, default in (("kernel_size", kernel, None), ("stride", strides, 1),
                                 ("pad", pads, 0), ("dilation", dilations, 1)):
        vals = [int(v) for v in vals]
        if default is not None and all(v == default for v in vals):
            continue
        getattr(p, field).extend(vals[:1] if len(set(vals)) == 1 else vals)


def _geometry(node, ctx, n: int):
    fixed_pads_only(node, "Caffe")
    kernel = list(attr(node, "kernel_shape") or ctx.const(node.inputs[1]).shape[2:])
    strides = list(attr(node, "strides") or [1] * n)
    dil = list(attr(node, "dilations") or [1] * n)
    pads = list(attr(node, "pads") or [0] * (2 * n))
    return kernel, strides, dil, pads[:n], pads[n:]


def _weights(node, ctx):
    w = ctx.const(node.inputs[1])
    if w is None:
        raise bad("W", node.inputs[1], "Caffe convolution weights must be constants")
    b = ctx.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    if len(node.inputs) > 2 and node.inputs[2] and b is None:
        raise bad("B", node.inputs[2], "Caffe convolution bias must be a constant")
    return w, b


def _conv_layer(ctx, type_, x, y, w, b, kernel, strides, pads, dil, group, num_output):
    lp = ctx.add(type_, [x], [y], blobs=[w] + ([b.reshape(-1)] if b is not None else []))
    p = lp.convolution_param
    p.num_output = int(num_output)
    if b is None:
        p.bias_term = False
    _set_geometry(p, kernel, strides, pads, dil)
    if group != 1:
        p.group = int(group)


@register("Conv")
def export_conv(ctx, node):
    """Symmetric pads map directly; asymmetric pads use the larger pad on both sides
    and crop the extra outputs (exact when the shift is a whole number of strides)."""
    x, y = ctx.activation(node.inputs[0]), node.outputs[0]
    w, b = _weights(node, ctx)
    n = w.ndim - 2
    kernel, strides, dil, begin, end = _geometry(node, ctx, n)
    group = int(attr(node, "group"))
    if begin == end:
        _conv_layer(ctx, "Convolution", x, y, w, b, kernel, strides, begin, dil, group, w.shape[0])
        return
    shp, out = ctx.shape(x), ctx.shape(y)
    pads, windows, fulls = [], {}, []
    for ax, (i, k, s, d, pb, pe) in enumerate(zip(shp[2:], kernel, strides, dil, begin, end)):
        q = max(pb, pe)
        if (q - pb) % s:
            raise bad("pads", begin + end, "asymmetric padding whose shift is not a whole number of strides "
                                           "(Caffe pads symmetrically)")
        full = (i + 2 * q - d * (k - 1) - 1) // s + 1
        start = (q - pb) // s
        if start + out[2 + ax] > full:
            raise bad("pads", begin + end, "asymmetric padding Caffe cannot reproduce")
        pads.append(q)
        fulls.append(full)
        windows[2 + ax] = (start, out[2 + ax])
    t = ctx.tmp("padded")
    ctx.shapes[t] = (*out[:2], *fulls)
    _conv_layer(ctx, "Convolution", x, t, w, b, kernel, strides, pads, dil, group, w.shape[0])
    ctx.crop(t, y, windows)


@register("ConvTranspose")
def export_conv_transpose(ctx, node):
    """Deconvolution computes the full output cropped by pad on both sides; other
    begin/end crops (asymmetric pads, output_padding) become an explicit crop."""
    x, y = ctx.activation(node.inputs[0]), node.outputs[0]
    w, b = _weights(node, ctx)
    n = w.ndim - 2
    kernel, strides, dil, begin, end = _geometry(node, ctx, n)
    opad = list(attr(node, "output_padding") or [0] * n)
    group = int(attr(node, "group"))
    ends = [e - o for e, o in zip(end, opad)]  # what is cut from the end of the full output
    if begin == ends:
        _conv_layer(ctx, "Deconvolution", x, y, w, b, kernel, strides, begin, dil, group, w.shape[1] * group)
        return
    out, shp = ctx.shape(y), ctx.shape(x)
    pads, windows, fulls = [], {}, []
    for ax, (pb, pe) in enumerate(zip(begin, ends)):
        q = min(pb, pe)
        if q < 0:
            raise bad("output_padding", opad, "larger than the end padding: the extra outputs are not computed "
                                              "by Caffe's Deconvolution")
        pads.append(q)
        windows[2 + ax] = (pb - q, out[2 + ax])
        i, k, st, d = shp[2 + ax], kernel[ax], strides[ax], dil[ax]
        fulls.append((i - 1) * st - 2 * q + d * (k - 1) + 1)
    t = ctx.tmp("uncropped")
    ctx.shapes[t] = (*out[:2], *fulls)
    _conv_layer(ctx, "Deconvolution", x, t, w, b, kernel, strides, pads, dil, group, w.shape[1] * group)
    ctx.crop(t, y, windows)


def _inner_product(ctx, x, y, w_nk, bias, axis):
    lp = ctx.add("InnerProduct", [x], [y], blobs=[w_nk] + ([bias] if bias is not None else []))
    p = lp.inner_product_param
    p.num_output = int(w_nk.shape[0])
    if bias is None:
        p.bias_term = False
    if axis != 1:
        p.axis = axis


def _bias_vector(c, n: int):
    """A Gemm C / MatMul bias broadcasting over the last axis only, as an (n,) vector."""
    if c is None:
        return None
    c = np.asarray(c, np.float32)
    if c.size == 1 or (c.ndim >= 1 and c.shape[-1] in (1, n) and c.size == c.shape[-1]):
        return np.broadcast_to(c.reshape(-1), (n,)).copy()
    return None


@register("Gemm")
def export_gemm(ctx, node):
    a = ctx.activation(node.inputs[0])
    w = ctx.const(node.inputs[1])
    if w is None:
        raise bad("B", node.inputs[1], "InnerProduct needs constant weights")
    if attr(node, "transA"):
        raise bad("transA", 1, "InnerProduct multiplies the activation untransposed")
    w = w if attr(node, "transB") else w.T
    alpha, beta = float(attr(node, "alpha")), float(attr(node, "beta"))
    if alpha != 1.0:
        w = w * np.float32(alpha)
    bias = None
    if len(node.inputs) > 2 and node.inputs[2]:
        c = ctx.const(node.inputs[2])
        bias = _bias_vector(c, w.shape[0])
        if bias is None:
            raise bad("C", node.inputs[2], "InnerProduct's bias is a constant vector over the outputs")
        bias = bias * np.float32(beta)
    _inner_product(ctx, a, node.outputs[0], np.ascontiguousarray(w, np.float32), bias, 1)


@register("MatMul")
def export_matmul(ctx, node):
    """x @ W (W a constant matrix) on the last axis, with a following bias Add absorbed."""
    a = ctx.activation(node.inputs[0])
    w = ctx.const(node.inputs[1])
    if w is None or w.ndim != 2:
        raise bad("B", node.inputs[1], "InnerProduct needs a constant 2-D weight matrix")
    rank = len(ctx.shape(a))
    y, bias = node.outputs[0], None
    nxt = ctx.sole_consumer(y)
    if nxt is not None and nxt.op == "Add" and nxt.inputs[0] == y:
        bias = _bias_vector(ctx.const(nxt.inputs[1]), w.shape[1])
        if bias is not None and ctx.shape(nxt.outputs[0]) == ctx.shape(y):
            ctx.done.add(nxt.name)
            y = nxt.outputs[0]
        else:
            bias = None
    _inner_product(ctx, a, y, np.ascontiguousarray(w.T, np.float32), bias, rank - 1)


@register("Pad")
def export_pad(ctx, node):
    """Zero padding of H/W read only by a Conv is folded into that Convolution's pads
    (which must then be symmetric or croppable); Caffe has no padding layer."""
    x = ctx.activation(node.inputs[0])
    pads = [int(p) for p in attr(node, "pads")]
    rank = len(pads) // 2
    nxt = ctx.sole_consumer(node.outputs[0])
    zero = attr(node, "mode") == "constant" and float(attr(node, "value")) == 0.0
    if not zero or nxt is None or nxt.op != "Conv" or nxt.inputs[0] != node.outputs[0] \
            or any(pads[:2] + pads[rank:rank + 2]) or any(p < 0 for p in pads):
        raise bad("pads", pads, "Caffe has no padding layer; only zero padding of the spatial axes "
                                "read by a Convolution folds into it")
    conv_pads = list(attr(nxt, "pads") or [0] * (2 * (rank - 2)))
    n = rank - 2
    merged = [conv_pads[k] + pads[2 + k] for k in range(n)] + [conv_pads[n + k] + pads[rank + 2 + k] for k in range(n)]
    ctx.done.add(nxt.name)
    folded = Node(nxt.op, nxt.name, [x, *nxt.inputs[1:]], list(nxt.outputs), {**nxt.attrs, "pads": merged},
                  nxt.source)
    ctx.node = folded
    export_conv(ctx, folded)
