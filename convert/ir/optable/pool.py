"""Pooling. Output sizes follow ONNX: floor, or ceil with ceil_mode=1; a window that would
start entirely inside the end padding is dropped (ONNX and PyTorch rule), which is
also Caffe's rule after its importer adjusts pads."""
import math

from . import declare
from .conv import AUTO_PAD
from .spec import Attr

_POOL = {
    "kernel_shape": Attr("ints"),
    "strides": Attr("ints", None, "default 1 per axis"),
    "pads": Attr("ints", None, "[begin..., end...], default 0"),
    "ceil_mode": Attr("int", 0),
    "dilations": Attr("ints", None),
    "auto_pad": AUTO_PAD,  # SAME_UPPER pads are -inf for MaxPool and left out of an AveragePool's count
}

declare("MaxPool", "pool", "X", attrs=_POOL, doc="Max pooling over spatial windows; padding is -inf.")
declare("AveragePool", "pool", "X", attrs={**_POOL, "count_include_pad": Attr("int", 0)}, doc="""
    Average pooling. count_include_pad=1 divides by the window clipped to the padded
    input (pads count, the ceil overhang does not); 0 divides by the valid elements only.""")
declare("LpPool", "pool", "X", attrs={**_POOL, "p": Attr("int", 2)}, doc="""
    Lp pooling: (sum over the window of |x|^p)^(1/p); pads add zeros. ONNX has dilations
    and ceil_mode from opset 18.""", keep_fp32=True)
declare("GlobalAveragePool", "pool", "X", doc="Mean over all spatial axes, keeping them as size 1.",
        keep_fp32=True)
declare("GlobalMaxPool", "pool", "X", doc="Max over all spatial axes, keeping them as size 1.")


def caffe_pooled_size(size: int, kernel: int, stride: int, pad: int, ceil: bool) -> int:
    """Caffe's Pooling output size on one axis (pad on both sides): rounded up (round_mode
    CEIL, its default) or down, then a last window starting in the padding dropped; unlike
    the ONNX rule, Caffe drops it only when pad is non-zero. Its importer and exporter map
    Caffe's Pooling onto MaxPool/AveragePool through this size."""
    q = (size + 2 * pad - kernel) / stride
    out = (math.ceil(q) if ceil else math.floor(q)) + 1
    if pad and (out - 1) * stride >= size + pad:
        out -= 1
    return out


declare("MaxPoolWithIndices", "pool", "X", "Y Indices", attrs={
    **_POOL, "storage_order": Attr("int", 0, "0: row-major indices; 1: column-major (the spatial axes reversed)")},
    onnx=False, doc="""
    MaxPool and the position of each maximum (ONNX MaxPool's Indices output, a separate op
    so that no writer of MaxPool can drop it): an int64 index into the whole flattened X,
    batch and channel included ((n * C + c) * H * W + h * W + w for storage_order 0;
    h + w * H within the plane for 1); ties take the first element in row-major order.""")
