"""Quantization ops as exact integer arithmetic in torch: ``torch.round`` rounds half to
even as ONNX does, sums that could leave int32/float32's exact range are formed in int64
or float64, and results saturate to the zero point's type."""
from __future__ import annotations

import numpy as np

from .context import TorchContext, attr, unsupported_attr
from .registry import register


def _along(ctx: TorchContext, node, param: str, x: str) -> str:
    """A scale or zero point broadcast against x: as is (per tensor), along ``axis``
    (1-D), or each entry repeated over its block."""
    shape = ctx.shape(param) if param not in ctx.graph.weights else ctx.graph.weights[param].shape
    p = ctx.x(param)
    if shape is None:
        raise unsupported_attr("scale", param, "a scale and zero point of known shape")
    if len(shape) == 0 or int(np.prod(shape)) == 1 and len(shape) <= 1:
        return p
    axis, block = attr(node, "axis"), attr(node, "block_size")
    if block:
        return f"{p}.repeat_interleave({block}, dim={axis}).narrow({axis}, 0, {x}.shape[{axis}])"
    return f"{p}.reshape([-1] + [1] * ({x}.dim() - 1 - {axis} % {x}.dim()))"


def _saturate(q: str, zp_dtype: str) -> str:
    return f"{q}.clamp(torch.iinfo({zp_dtype}).min, torch.iinfo({zp_dtype}).max).to({zp_dtype})"


@register("QuantizeLinear")
def export_quantize(ctx: TorchContext, node):
    x = ctx.x(node.inputs[0])
    s, zp = _along(ctx, node, node.inputs[1], x), _along(ctx, node, node.inputs[2], x)
    zdt = f"{ctx.x(node.inputs[2])}.dtype"
    ctx.assign(node.outputs[0], _saturate(f"(torch.round({x} / {s}).double() + {zp}.double())", zdt))


@register("DequantizeLinear")
def export_dequantize(ctx: TorchContext, node):
    x = ctx.x(node.inputs[0])
    s = _along(ctx, node, node.inputs[1], x)
    zp = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
    q = f"({x}.long() - {_along(ctx, node, zp, x)}.long())" if zp else x
    ctx.assign(node.outputs[0], f"{q}.to({ctx.x(node.inputs[1])}.dtype) * {s}")


@register("DynamicQuantizeLinear")
def export_dynamic_quantize(ctx: TorchContext, node):
    x = ctx.x(node.inputs[0])
    hi, lo, scale, zp = (ctx.tmp(t) for t in ("hi", "lo", "scale", "zero_point"))
    ctx.line(f"{hi}, {lo} = {x}.float().max().clamp(min=0), {x}.float().min().clamp(max=0)")
    ctx.line(f"{scale} = torch.where({hi} == {lo}, torch.ones_like({hi}), {hi} - {lo}) / 255")
    ctx.line(f"{zp} = torch.round((0 - {lo} / {scale}).clamp(0, 255))")
    ctx.assign(node.outputs, f"(torch.round({x} / {scale}) + {zp}).clamp(0, 255).to(torch.uint8), "
                             f"{scale}.to({x}.dtype), {zp}.to(torch.uint8)")


def _per_tensor(ctx: TorchContext, values) -> None:
    for v in values:
        shape = ctx.graph.weights[v].shape if v in ctx.graph.weights else ctx.shape(v)
        if shape is None or int(np.prod(shape)) != 1:
            raise unsupported_attr("scale", v, "per-tensor scales and zero points")


def _centred(ctx: TorchContext, x: str, zp: str | None, row: bool) -> str:
    """x - zero point in int32; a 1-D zero point of the left operand runs along its rows."""
    if not zp:
        return f"{x}.int()"
    z = ctx.x(zp)
    shape = ctx.graph.weights[zp].shape if zp in ctx.graph.weights else ctx.shape(zp)
    if row and shape is not None and len(shape) == 1 and shape[0] != 1:
        z = f"{z}[:, None]"
    return f"({x}.int() - {z}.int())"


@register("QLinearMatMul")
def export_qlinear_matmul(ctx: TorchContext, node):
    a, sa, za, b, sb, zb, sy, zy = node.inputs
    _per_tensor(ctx, (sa, za, sb, zb, sy, zy))
    acc = ctx.tmp("acc")
    ctx.line(f"{acc} = torch.matmul({_centred(ctx, ctx.x(a), za, True)}, {_centred(ctx, ctx.x(b), zb, False)})")
    # the rescale factor in the scales' own type, applied to the int32 sums in float32 as
    # onnxruntime does (its results differ from float64 arithmetic next to ties)
    factor = f"({ctx.x(sa)} * {ctx.x(sb)} / {ctx.x(sy)}).float()"
    ctx.assign(node.outputs[0], _saturate(f"(torch.round({acc}.float() * {factor}).double() + {ctx.x(zy)}.double())",
                                          f"{ctx.x(zy)}.dtype"))


@register("MatMulInteger")
def export_matmul_integer(ctx: TorchContext, node):
    ins = list(node.inputs) + [""] * (4 - len(node.inputs))
    a = _centred(ctx, ctx.x(ins[0]), ins[2] or None, True)
    b = _centred(ctx, ctx.x(ins[1]), ins[3] or None, False)
    ctx.assign(node.outputs[0], f"torch.matmul({a}, {b})")
