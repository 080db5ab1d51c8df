"""Quantization as explicit integer ops (ONNX semantics): nothing is folded or dropped, so
a target either computes the same integers or refuses the op by name. Rounding is half
to even, results saturate to the range of the zero point's type (uint8 by default);
scale and zero point are per tensor (scalars), per axis (1-D along ``axis``) or blocked
(same rank as x, ``block_size`` consecutive elements along ``axis`` sharing one)."""
from . import declare
from .conv import CONV_ATTRS
from .spec import Attr

_AXIS = Attr("int", 1, "the axis a 1-D (per-axis) or blocked scale runs along")
_BLOCK = Attr("int", 0, "0: per tensor or per axis; else the block length along axis")

declare("QuantizeLinear", "quantization", "x y_scale y_zero_point", "y", attrs={"axis": _AXIS, "block_size": _BLOCK},
        doc="""y = saturate(round_half_even(x / y_scale) + y_zero_point), in the zero point's integer
        type (the importer supplies a uint8 zero when the source has none).""")
declare("DequantizeLinear", "quantization", "x x_scale x_zero_point?", "y", attrs={"axis": _AXIS, "block_size": _BLOCK},
        doc="y = (x - x_zero_point) * x_scale, in the scale's float type; integer subtraction.")
declare("DynamicQuantizeLinear", "quantization", "x", "y y_scale y_zero_point", doc="""
    uint8 quantization with the scale and zero point from x's range: the range is
    [min(0, min x), max(0, max x)], y_scale = range / 255 (1/255 for an all-zero x),
    y_zero_point = round_half_even(clip(-min / y_scale, 0, 255)), y as QuantizeLinear.""")
declare("QLinearMatMul", "quantization", "a a_scale a_zero_point b b_scale b_zero_point y_scale y_zero_point", "y",
        doc="""numpy matmul of (a - a_zero_point) and (b - b_zero_point) in int32, times
        a_scale * b_scale / y_scale (in the scales' float type), rounded half to even, plus
        y_zero_point, saturated to y_zero_point's type. Per-tensor scales and zero points.""")
declare("MatMulInteger", "quantization", "A B a_zero_point? b_zero_point?", "Y",
        doc="""int32 numpy matmul of (A - a_zero_point) and (B - b_zero_point). a_zero_point is a
        scalar or per row of A; b_zero_point a scalar or per column of B.""")

# Integer convolutions: the sums of the zero-point-centred integers are exact int32 (the
# padding is the zero point, i.e. 0 once centred). Pads are explicit: the importer resolves
# auto_pad from the spatial sizes.
declare("ConvInteger", "quantization", "x w x_zero_point? w_zero_point?", "y", attrs=CONV_ATTRS,
        doc="""int32 N-d convolution (Conv's layout and attributes) of (x - x_zero_point) and
        (w - w_zero_point). x_zero_point is a scalar; w_zero_point a scalar or one per output
        channel (1-D of M).""")
declare("QLinearConv", "quantization", "x x_scale x_zero_point w w_scale w_zero_point y_scale y_zero_point B?", "y",
        attrs=CONV_ATTRS, doc="""ConvInteger's int32 sums plus B (int32, per output channel), times
        x_scale * w_scale / y_scale (in float32, as onnxruntime: the factor formed in the scales'
        type, applied to the sums converted to float32), rounded half to even, plus
        y_zero_point, saturated to y_zero_point's type. w_scale and w_zero_point are scalars or
        one per output channel; the other scales and zero points scalars.""")
