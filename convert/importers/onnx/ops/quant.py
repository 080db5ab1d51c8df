"""Quantization ops kept as explicit integer IR ops (see the op table's quantization
family). Q/DQ of a constant weight never gets here: the importer folds it into a float
weight, with a warning."""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ..read import IR_DTYPE, type_name
from ..registry import register
from .common import ir_attrs, same

@register("DynamicQuantizeLinear", "QLinearMatMul", "MatMulInteger")
def import_quant_same(ctx, node):
    same(ctx, node)


def _no_precision(ctx) -> None:
    if int(ctx.attr("precision", 0)):  # opset 25+: the type of x / y_scale; 0 is the scale's own
        raise UnsupportedAttributeError("precision", ctx.attr("precision"), "the scale's own type (0)")


@register("QuantizeLinear")
def import_quantize(ctx, node):
    """A missing zero point is a zero of ``output_dtype`` (uint8 by default)."""
    _no_precision(ctx)
    zp = ctx.x(2)
    if not zp:
        code = int(ctx.attr("output_dtype", 0)) or 2
        if code not in IR_DTYPE:
            raise UnsupportedAttributeError("output_dtype", type_name(code), "an integer type the IR holds")
        scale = ctx.maybe_const(1)
        shape = scale.shape if scale is not None else ctx.shape(1) or ()
        if not all(isinstance(d, int) for d in shape):
            raise UnsupportedAttributeError("y_scale", ctx.name(1), "a scale of static shape when y_zero_point is omitted")
        zp = ctx.b.weight(ctx.node.output[0] + "/zero_point", np.zeros(shape, IR_DTYPE[code]))
    # saturate only affects float8 outputs, which the IR does not hold
    attrs = ir_attrs(ctx, "QuantizeLinear", drop=("saturate", "output_dtype", "precision"))
    ctx.emit("QuantizeLinear", [ctx.x(0), ctx.x(1), zp], attrs)


@register("DequantizeLinear")
def import_dequantize(ctx, node):
    code = int(ctx.attr("output_dtype", 0))
    if code and IR_DTYPE.get(code) != ctx.dtype(1):
        raise UnsupportedAttributeError("output_dtype", type_name(code), "the scale's own type")
    same(ctx, node, drop=("output_dtype",))
