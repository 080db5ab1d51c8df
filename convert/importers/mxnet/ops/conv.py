"""Convolution, Deconvolution, FullyConnected, Embedding."""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ..context import NodeContext
from ..registry import register

_LAYOUTS = {1: "NCW", 2: "NCHW", 3: "NCDHW"}


def _geometry(ctx: NodeContext, n: int, transposed: bool):
    kernel = ctx.ints("kernel")
    if len(kernel) != n:
        raise UnsupportedAttributeError("kernel", kernel, f"needs {n} values for a {n + 2}-axis input")
    layout = ctx.str("layout", "None")
    if layout not in ("None", _LAYOUTS[n]):
        raise UnsupportedAttributeError("layout", layout, f"only {_LAYOUTS[n]} (channels first)")
    stride = ctx.ints("stride", [1] * n)
    dilate = ctx.ints("dilate", [1] * n)
    pad = ctx.ints("pad", [0] * n)
    if not len(stride) == len(dilate) == len(pad) == n:
        raise UnsupportedAttributeError("stride/dilate/pad", (stride, dilate, pad), f"{n} values each")
    return kernel, stride, dilate, pad


def _conv(node, ctx: NodeContext, transposed: bool) -> None:
    shp = ctx.shape(0)
    n = len(shp) - 2
    if n not in _LAYOUTS:
        raise UnsupportedAttributeError("input rank", len(shp), "1-D, 2-D and 3-D convolutions")
    kernel, stride, dilate, pad = _geometry(ctx, n, transposed)
    m, g = ctx.int("num_filter"), ctx.int("num_group", 1)
    cin = shp[1]
    if cin % g or m % g:
        raise UnsupportedAttributeError("num_group", g, f"does not divide channels {cin} -> {m}")
    # Deconvolution has no bias unless asked; Convolution has one unless told otherwise
    no_bias = ctx.bool("no_bias", transposed)
    w = ctx.param(1, (cin, m // g, *kernel) if transposed else (m, cin // g, *kernel))
    ins = [ctx.x(0), ctx.weight("weight", w)]
    if not no_bias:
        ins.append(ctx.weight("bias", ctx.param(2, (m,))))
    attrs = dict(kernel_shape=kernel, strides=stride, dilations=dilate, pads=pad + pad, group=g)
    if transposed:
        if ctx.ints("target_shape"):
            raise UnsupportedAttributeError("target_shape", ctx.str("target_shape"), "give pad/adj instead")
        adj = ctx.ints("adj", [0] * n)
        spatial = [(i - 1) * s - 2 * p + d * (k - 1) + 1 + a
                   for i, k, s, d, p, a in zip(shp[2:], kernel, stride, dilate, pad, adj)]
        if any(adj):
            attrs["output_padding"] = adj
        ctx.out("ConvTranspose", ins, (shp[0], m, *spatial), **attrs)
    else:
        spatial = [(i + 2 * p - d * (k - 1) - 1) // s + 1 for i, k, s, d, p in zip(shp[2:], kernel, stride, dilate, pad)]
        if any(o <= 0 for o in spatial):
            raise UnsupportedAttributeError("kernel", kernel, f"gives an empty output for input {shp}")
        ctx.out("Conv", ins, (shp[0], m, *spatial), **attrs)


@register("Convolution", emits=("Conv", "ConvTranspose"))
def import_convolution(ctx, node):
    _conv(node, ctx, transposed=False)


@register("Deconvolution", emits=("Conv", "ConvTranspose"))
def import_deconvolution(ctx, node):
    _conv(node, ctx, transposed=True)


@register("FullyConnected", emits=("Add", "Flatten", "Gemm", "MatMul"))
def import_fully_connected(ctx, node):
    shp = ctx.shape(0)
    m = ctx.int("num_hidden")
    flatten = ctx.bool("flatten", True)
    x = ctx.x(0)
    if flatten:
        k = int(np.prod(shp[1:]))
        if len(shp) != 2:
            x = ctx.op("Flatten", x, dims=(shp[0], k), axis=1)
    else:
        k = shp[-1]
    w = ctx.param(1, (m, k))
    bias = None if ctx.bool("no_bias", False) else ctx.param(2, (m,))
    if flatten or len(shp) == 2:
        ins = [x, ctx.weight("weight", w)] + ([ctx.weight("bias", bias)] if bias is not None else [])
        ctx.out("Gemm", ins, (shp[0], m), transB=1)
        return
    out_shape = (*shp[:-1], m)
    if bias is None:
        ctx.out("MatMul", [x, ctx.weight("weight", w.T)], out_shape)
        return
    y = ctx.op("MatMul", x, ctx.weight("weight", w.T), dims=out_shape)
    ctx.out("Add", [y, ctx.weight("bias", bias)], out_shape)


@register("Embedding", emits=("Cast", "Gather"))
def import_embedding(ctx, node):
    vocab, dim = ctx.int("input_dim"), ctx.int("output_dim")
    w = ctx.weight("weight", ctx.param(1, (vocab, dim)))
    # MXNet takes float ids and truncates them, as Cast does
    ids = ctx.op("Cast", ctx.x(0), dims=ctx.shape(0), hint="ids", to="int64")
    ctx.out("Gather", [w, ids], (*ctx.shape(0), dim), axis=0)
