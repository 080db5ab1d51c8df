"""Comparisons, logical ops, Where and Cast as LiteRT builtins (the masks models build from
token ids); each keeps its full-rank operand's layout."""
from __future__ import annotations

from .context import TFLiteContext, attr, unsupported_attr
from .math_ops import _layout, operand
from .registry import register
from .schema import TENSOR_TYPES

_CODES = {"Equal": "EQUAL", "Greater": "GREATER", "Less": "LESS", "And": "LOGICAL_AND", "Or": "LOGICAL_OR",
          "Xor": "NOT_EQUAL", "Where": "SELECT_V2"}  # Xor of booleans is their inequality


@register(*_CODES)
def export_compare(ctx: TFLiteContext, node) -> None:
    if node.op == "Xor" and any(ctx.dtype(v) != "bool" for v in node.inputs):
        raise unsupported_attr("dtype", [ctx.dtype(v) for v in node.inputs], "Xor of booleans")
    rank = len(ctx.ir_shape(node.outputs[0]))
    perm = _layout(ctx, node, rank)
    ins = [operand(ctx, v, perm, rank) for v in node.inputs]
    ctx.op(_CODES[node.op], ins, [ctx.out(node.outputs[0], perm, "bool" if node.op != "Where" else None)])


@register("Not")
def export_not(ctx: TFLiteContext, node) -> None:
    x = node.inputs[0]
    perm = ctx.perm(x)
    ctx.op("LOGICAL_NOT", [ctx.get(x, perm)], [ctx.out(node.outputs[0], perm, "bool")])


@register("Cast")
def export_cast(ctx: TFLiteContext, node) -> None:
    x, to = node.inputs[0], str(attr(node, "to"))
    if to not in TENSOR_TYPES or ctx.dtype(x) not in TENSOR_TYPES:
        raise unsupported_attr("to", to, f"LiteRT tensors are {', '.join(TENSOR_TYPES)}")
    perm = ctx.perm(x)
    types = ctx.S.TensorType
    ctx.op("CAST", [ctx.get(x, perm)], [ctx.out(node.outputs[0], perm, to)], "CastOptions",
           inDataType=getattr(types, TENSOR_TYPES[ctx.dtype(x)]), outDataType=getattr(types, TENSOR_TYPES[to]))
