"""Convolutions and transposed convolutions (NC* layout, as in the IR)."""
from __future__ import annotations

from ..context import TorchContext
from ..registry import register


def ints(v, n: int) -> list[int]:
    """An int or a list of ints expanded to n entries."""
    if v is None:
        return [0] * n
    if isinstance(v, (list, tuple)):
        v = [int(x) for x in v]
        return v * n if len(v) == 1 else v
    return [int(v)] * n


def _conv(ctx: TorchContext, x, w, bias, stride, padding, dilation, groups) -> str:
    wa = ctx.array(w)
    nsp = ctx.rank(w) - 2
    kernel = list(wa.shape[2:]) if wa is not None else [int(d) for d in ctx.meta(w).shape[2:]]
    dil = ints(dilation, nsp)
    if isinstance(padding, str):
        if padding == "valid":
            pads = [0] * (2 * nsp)
        else:  # torch 'same': total d*(k-1), the odd extra pixel at the end
            total = [d * (k - 1) for d, k in zip(dil, kernel)]
            pads = [t // 2 for t in total] + [t - t // 2 for t in total]
    else:
        p = ints(padding, nsp)
        pads = p + p
    ins = [ctx.v(x), ctx.v(w)] + ([ctx.v(bias)] if bias is not None else [])
    return ctx.op("Conv", *ins, kernel_shape=kernel, strides=ints(stride, nsp), dilations=dil, pads=pads,
                  group=int(groups))


@register("aten.conv1d.default", "aten.conv2d.default", "aten.conv3d.default",
          "aten.conv1d.padding", "aten.conv2d.padding", "aten.conv3d.padding", emits=("Conv",))
def import_conv(ctx: TorchContext, node) -> str:
    x, w, b, stride, padding, dilation, groups = ctx.args(node)
    return _conv(ctx, x, w, b, stride, padding, dilation, groups)


def _conv_transpose(ctx, x, w, bias, stride, padding, output_padding, groups, dilation) -> str:
    nsp = ctx.rank(w) - 2
    kernel = [int(d) for d in ctx.meta(w).shape[2:]]
    p = ints(padding, nsp)
    ins = [ctx.v(x), ctx.v(w)] + ([ctx.v(bias)] if bias is not None else [])
    return ctx.op("ConvTranspose", *ins, kernel_shape=kernel, strides=ints(stride, nsp), pads=p + p,
                  dilations=ints(dilation, nsp), output_padding=ints(output_padding, nsp), group=int(groups))


@register("aten.conv_transpose1d.default", "aten.conv_transpose2d.input", "aten.conv_transpose3d.input",
          emits=("ConvTranspose",))
def import_conv_transpose(ctx: TorchContext, node) -> str:
    x, w, b, stride, padding, output_padding, groups, dilation = ctx.args(node)
    return _conv_transpose(ctx, x, w, b, stride, padding, output_padding, groups, dilation)


@register("aten.convolution.default", emits=("Conv", "ConvTranspose"))
def import_convolution(ctx: TorchContext, node) -> str:
    x, w, b, stride, padding, dilation, transposed, output_padding, groups = ctx.args(node)
    if transposed:
        return _conv_transpose(ctx, x, w, b, stride, padding, output_padding, groups, dilation)
    return _conv(ctx, x, w, b, stride, padding, dilation, groups)


