"""Convolutions. Layout: NC(D)HW activations, OI(D)HW weights (ConvTranspose: IO/g(D)HW)."""
from . import declare
from .spec import Attr

CONV_ATTRS = {
    "kernel_shape": Attr("ints", doc="spatial kernel size, one per spatial axis"),
    "strides": Attr("ints", None, "default 1 per axis"),
    "dilations": Attr("ints", None, "default 1 per axis"),
    "pads": Attr("ints", None, "[x1_begin, x2_begin, ..., x1_end, x2_end]; asymmetric allowed; default 0"),
    "group": Attr("int", 1),
}

# 'same' padding on a spatial size known only at run time (Keras/TF 'same' with stride > 1).
AUTO_PAD = Attr("str", "NOTSET", """NOTSET: use pads. SAME_UPPER: pads follow the input size at
    run time, total = max((ceil(n/s) - 1)*s + (k-1)*d + 1 - n, 0) per axis, begin = total // 2,
    the odd pixel at the end (TensorFlow/Keras 'same'); output size ceil(n/s); pads must be absent""",
                choices=("NOTSET", "SAME_UPPER"))

declare("Conv", "conv", "X W B?", attrs={**CONV_ATTRS, "auto_pad": AUTO_PAD}, doc="""
    N-d convolution (1-D, 2-D, 3-D by the rank of W). X is (N, C, *spatial), W is
    (M, C/group, *kernel), B is (M). Importers resolve 'same' padding to explicit, possibly
    asymmetric, pads wherever the spatial size is known (or the stride is 1); only a 'same'
    padding whose pads depend on an open spatial size is auto_pad=SAME_UPPER (ONNX's
    meaning). Depthwise is group == C.""")

declare("ConvTranspose", "conv", "X W B?", attrs={
    **CONV_ATTRS,
    "output_padding": Attr("ints", None, "extra size added at the end of each spatial axis"),
}, doc="""
    Transposed convolution. W is (C, M/group, *kernel). Output size per axis =
    stride*(in-1) + output_padding + (kernel-1)*dilation + 1 - pad_begin - pad_end.""")

declare("DeformConv", "conv", "X W offset B? mask?", attrs={
    **CONV_ATTRS, "offset_group": Attr("int", 1, "groups of input channels sharing one set of offsets")}, doc="""
    Deformable convolution (ONNX opset 19), any number S of spatial axes: each kernel tap of
    each output position samples X (S-linearly from its 2**S neighbours, zero outside, pixel
    coordinates as GridSample with align_corners=1) at its regular position (output * stride
    - pad_begin + tap * dilation) plus an offset. offset is (N, offset_group * prod(kernel) *
    S, *output) with one offset per spatial axis per tap in row-major tap order; mask (N,
    offset_group * prod(kernel), *output) scales each sample (1 when absent). The output size
    is offset's, which must equal Conv's for these attributes. W and B as Conv's.""")
