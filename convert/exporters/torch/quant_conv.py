"""Integer convolutions (ConvInteger, QLinearConv) as exact integer arithmetic in torch.

torch has no integer convolution on CPU, so the zero-point-centred integers are convolved
in float64: every product and partial sum is an integer far below 2**53, hence exact in
any summation order, and the result converts to int32 without rounding."""
from __future__ import annotations

from .context import TorchContext, attr, py, unsupported_attr
from .layers import _pre_pad, _spatial
from .quant import _saturate
from .registry import register


def _centred(ctx: TorchContext, value: str, zero_point: str, per_channel_rank: int = 0) -> str:
    """value - zero point in float64; a 1-D zero point runs along axis 0 (output channels)."""
    v = f"{ctx.x(value)}.double()"
    if not zero_point:
        return v
    z = f"{ctx.x(zero_point)}.double()"
    if per_channel_rank:
        z = f"{z}.reshape([-1] + [1] * {per_channel_rank - 1})"
    return f"({v} - {z})"


def _int_sums(ctx: TorchContext, node, x: str, zx: str, w: str, zw: str) -> str:
    """A temporary holding the int32 sums of the centred convolution."""
    nd = len(attr(node, "kernel_shape"))
    if nd not in (1, 2, 3):
        raise unsupported_attr("kernel_shape", list(attr(node, "kernel_shape")), "torch has conv1d/2d/3d")
    strides, dil, begin, end = _spatial(node, nd)
    xc = _centred(ctx, x, zx)
    padding = tuple(begin)
    if begin != end:  # torch pads symmetrically: pad the centred input first (zero = the zero point)
        xc, padding = _pre_pad(ctx, xc, begin, end), (0,) * nd
    wc = _centred(ctx, w, zw, nd + 2)
    acc = ctx.tmp("acc")
    ctx.line(f"{acc} = F.conv{nd}d({xc}, {wc}, None, {py(tuple(strides))}, {py(padding)}, {py(tuple(dil))}, "
             f"{int(attr(node, 'group'))}).round().int()")
    return acc


@register("ConvInteger")
def export_conv_integer(ctx: TorchContext, node):
    ins = list(node.inputs) + [""] * (4 - len(node.inputs))
    ctx.assign(node.outputs[0], _int_sums(ctx, node, ins[0], ins[2], ins[1], ins[3]))


@register("QLinearConv")
def export_qlinear_conv(ctx: TorchContext, node):
    x, sx, zx, w, sw, zw, sy, zy = node.inputs[:8]
    bias = node.inputs[8] if len(node.inputs) > 8 else ""
    acc = _int_sums(ctx, node, x, zx, w, zw)
    per_channel = f"[-1] + [1] * {len(attr(node, 'kernel_shape'))}"
    if bias:
        ctx.line(f"{acc} = {acc} + {ctx.x(bias)}.int().reshape({per_channel})")
    # onnxruntime's requantisation: the factor in float32, applied to the sums in float32
    factor = f"({ctx.x(sx)} * {ctx.x(sw)}.reshape({per_channel}) / {ctx.x(sy)}).float()"
    ctx.assign(node.outputs[0], _saturate(f"(torch.round({acc}.float() * {factor}).double() + {ctx.x(zy)}.double())",
                                          f"{ctx.x(zy)}.dtype"))
