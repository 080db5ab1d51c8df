"""Normalisation layers."""
from . import declare
from .spec import Attr

declare("BatchNormalization", "norm", "X scale B input_mean input_var", attrs={
    "epsilon": Attr("float", 1e-5),
}, doc="""
    Inference batch norm over axis 1: y = scale * (x - mean) / sqrt(var + epsilon) + B.
    Statistics are the stored (running) ones; Caffe's scale factor is already divided out.""", same_shape=True)
declare("InstanceNormalization", "norm", "X scale B", attrs={"epsilon": Attr("float", 1e-5)}, doc="""
    Normalise each (sample, channel) over the spatial axes, then scale and shift per channel.
    Also used for batch-statistics BatchNorm at batch size 1 is NOT implied: see MeanVarianceNormalization.""", same_shape=True, keep_fp32=True)
declare("LayerNormalization", "norm", "X Scale B?", attrs={
    "axis": Attr("int", -1, "first normalised axis; normalises axis..rank-1"),
    "epsilon": Attr("float", 1e-5),
}, doc="y = (x - mean) / sqrt(var + eps) * Scale + B over the axes from `axis` to the last.", same_shape=True, keep_fp32=True)
declare("LRN", "norm", "X", attrs={
    "size": Attr("int"), "alpha": Attr("float", 1e-4), "beta": Attr("float", 0.75), "bias": Attr("float", 1.0),
}, doc="""
    Local response normalisation across channels: y = x / (bias + alpha/size * sum_{size
    neighbouring channels} x^2)^beta (ONNX convention: alpha is divided by size).""")
declare("MeanVarianceNormalization", "norm", "X", attrs={
    "axes": Attr("ints", [0, 2, 3]),
    "normalize_variance": Attr("int", 1),
    "epsilon": Attr("float", 1e-9),
    "eps_after_sqrt": Attr("int", 0, "1: y=(x-mean)/(sqrt(var)+eps) (Caffe MVN); 0: /sqrt(var+eps)"),
}, onnx=False, doc="""
    Subtract the mean over `axes` and, with normalize_variance, divide by the standard
    deviation (biased). Covers Caffe MVN and batch-statistics BatchNorm.""", keep_fp32=True)
declare("LpNormalization", "norm", "X", attrs={
    "axes": Attr("ints", [1]), "p": Attr("int", 2), "epsilon": Attr("float", 0.0),
    "eps_inside": Attr("int", 1, "1: x / sqrt(sum x^2 + eps); 0: x / max(norm, eps)"),
}, onnx=False, doc="""Divide by the Lp norm over `axes` (SSD Normalize, torch F.normalize).""", keep_fp32=True)
declare("GroupNormalization", "norm", "X scale B", attrs={
    "num_groups": Attr("int"),
    "epsilon": Attr("float", 1e-5),
}, doc="""
    Split the C channels (axis 1) into num_groups groups, normalise each (sample, group)
    over its channels and spatial axes (biased variance), then scale and shift per
    channel: scale and B have shape (C,) (ONNX opset 21 semantics).""", same_shape=True, keep_fp32=True)
declare("RMSNormalization", "norm", "X scale", attrs={
    "axis": Attr("int", -1, "first normalised axis; normalises axis..rank-1"),
    "epsilon": Attr("float", 1e-5),
}, doc="y = x / sqrt(mean(x^2 over the axes from `axis` to the last) + eps) * scale (ONNX opset 23).", same_shape=True, keep_fp32=True)
