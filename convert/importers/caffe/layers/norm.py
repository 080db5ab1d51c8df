"""BatchNorm, Scale, Bias, LRN, MVN and the SSD fork's Normalize."""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ..registry import register


@register("BatchNorm", emits=("BatchNormalization", "MeanVarianceNormalization"))
def import_batchnorm(ctx, node):
    """y = (x - mean) / sqrt(var + eps), with mean = blobs[0]/sf and var = blobs[1]/sf
    (sf = blobs[2], Caffe's moving-average scale factor; sf == 0 means 0)."""
    p = node.batch_norm_param
    shp = ctx.shape(0)
    c = shp[1] if len(shp) > 1 else 1
    # In the TEST phase use_global_stats defaults to true.
    global_stats = p.use_global_stats if p.HasField("use_global_stats") else True
    if not global_stats:
        # Caffe normalises with the current batch's statistics (biased variance).
        ctx.warn("use_global_stats: false -> normalised with batch statistics, as Caffe does")
        axes = [0] + list(range(2, len(shp)))
        ctx.top(0, "MeanVarianceNormalization", [ctx.x(0)], shp, axes=axes, epsilon=float(p.eps),
                eps_after_sqrt=0)
        return
    mean, var = ctx.param(0, (c,)), ctx.param(1, (c,))
    sf = float(ctx.param(2, (1,))[0])
    factor = 0.0 if sf == 0 else 1.0 / sf
    mean = (mean.astype(np.float64) * factor).astype(np.float32)
    var = (var.astype(np.float64) * factor).astype(np.float32)
    ins = [ctx.x(0), ctx.weight("gamma", np.ones(c, np.float32)), ctx.weight("beta", np.zeros(c, np.float32)),
           ctx.weight("mean", mean), ctx.weight("var", var)]
    if len(shp) < 2:
        raise UnsupportedAttributeError("input rank", len(shp), "BatchNorm needs a channel axis")
    ctx.top(0, "BatchNormalization", ins, shp, epsilon=float(p.eps))


def _operand_shape(ctx, p, what: str) -> tuple[int, tuple[int, ...]]:
    """(axis, parameter shape) for a Scale/Bias with a learned parameter."""
    shp = ctx.shape(0)
    rank = len(shp)
    if p.num_axes == 0:
        return 0, ()
    axis = ctx.axis(p.axis, rank, f"{what}.axis")
    num_axes = rank - axis if p.num_axes == -1 else int(p.num_axes)
    if num_axes < -1 or axis + num_axes > rank:
        raise UnsupportedAttributeError(f"{what}.num_axes", p.num_axes, f"for axis {p.axis} of a {rank}-axis blob")
    return axis, tuple(shp[axis:axis + num_axes])


def _broadcast(shape: tuple, axis: int, rank: int) -> tuple:
    """A parameter covering axes [axis, axis+len(shape)) as a broadcastable shape."""
    if not shape:
        return (1,)
    return tuple(shape) + (1,) * (rank - axis - len(shape))


def _second_bottom(ctx, p, what: str) -> tuple[str, tuple, int]:
    """The 2nd bottom reshaped to broadcast against the 1st."""
    shp, other = ctx.shape(0), ctx.shape(1)
    rank = len(shp)
    axis = 0 if not other else ctx.axis(p.axis, rank, f"{what}.axis")
    if tuple(shp[axis:axis + len(other)]) != tuple(other):
        raise UnsupportedAttributeError(f"{what}.axis", p.axis, f"bottom shapes {shp} and {other} do not fit")
    target = _broadcast(other, axis, rank)
    v = ctx.x(1)
    if target != tuple(other):
        v = ctx.op("Reshape", v, hint="operand", shape=list(target))
    return v, other, axis


@register("Scale", emits=("Add", "Mul", "Reshape"))
def import_scale(ctx, node):
    """y = x * gamma (+ beta), gamma broadcast over axes [axis, axis+num_axes)."""
    p = node.scale_param
    shp = ctx.shape(0)
    if ctx.n_bottoms > 1:
        gamma, pshape, axis = _second_bottom(ctx, p, "scale_param")
        bias_index = 0
    else:
        axis, pshape = _operand_shape(ctx, p, "scale_param")
        gamma = ctx.weight("gamma", ctx.param(0, pshape).reshape(_broadcast(pshape, axis, len(shp))))
        bias_index = 1
    if not p.bias_term:
        ctx.top(0, "Mul", [ctx.x(0), gamma], shp)
        return
    y = ctx.op("Mul", ctx.x(0), gamma)
    beta = ctx.weight("beta", ctx.param(bias_index, pshape).reshape(_broadcast(pshape, axis, len(shp))))
    ctx.top(0, "Add", [y, beta], shp)


@register("Bias", emits=("Add", "Reshape"))
def import_bias(ctx, node):
    """y = x + b, b broadcast over axes [axis, axis+num_axes)."""
    p = node.bias_param
    shp = ctx.shape(0)
    if ctx.n_bottoms > 1:
        b, _, _ = _second_bottom(ctx, p, "bias_param")
    else:
        axis, pshape = _operand_shape(ctx, p, "bias_param")
        b = ctx.weight("b", ctx.param(0, pshape).reshape(_broadcast(pshape, axis, len(shp))))
    ctx.top(0, "Add", [ctx.x(0), b], shp)


@register("LRN", emits=("Add", "AveragePool", "Div", "LRN", "Mul", "Pow"))
def import_lrn(ctx, node):
    p = node.lrn_param
    shp = ctx.shape(0)
    n = int(p.local_size)
    if n % 2 == 0:
        raise UnsupportedAttributeError("local_size", n, "Caffe requires an odd local_size")
    if p.norm_region == 0:  # ACROSS_CHANNELS: x / (k + alpha/n * sum x^2)^beta, ONNX's formula
        ctx.top(0, "LRN", [ctx.x(0)], shp, size=n, alpha=float(p.alpha), beta=float(p.beta), bias=float(p.k))
        return
    # WITHIN_CHANNEL: x / (1 + alpha/n^2 * sum over an n x n zero-padded window of x^2)^beta.
    # Caffe ignores k here. The average pool divides by n^2 everywhere: with pad (n-1)/2
    # and stride 1 no window passes the padded border.
    x = ctx.x(0)
    sq = ctx.op("Mul", x, x, hint="square")
    q = (n - 1) // 2
    avg = ctx.op("AveragePool", sq, kernel_shape=[n, n], strides=[1, 1], pads=[q, q, q, q], count_include_pad=1)
    scaled = ctx.op("Mul", avg, ctx.const("alpha", np.float32(p.alpha)), hint="alpha")
    base = ctx.op("Add", scaled, ctx.const("one", np.float32(1.0)), hint="plus_one")
    den = ctx.op("Pow", base, ctx.const("beta", np.float32(p.beta)), hint="pow")
    ctx.top(0, "Div", [x, den], shp)


@register("MVN", emits=("MeanVarianceNormalization",))
def import_mvn(ctx, node):
    """(x - mean) / (std + eps) per sample (and channel unless across_channels); Caffe adds
    eps after the square root."""
    p = node.mvn_param
    shp = ctx.shape(0)
    axes = list(range(1 if p.across_channels else 2, len(shp)))
    ctx.top(0, "MeanVarianceNormalization", [ctx.x(0)], shp, axes=axes,
            normalize_variance=int(p.normalize_variance), epsilon=float(p.eps), eps_after_sqrt=1)


@register("Normalize", emits=("LpNormalization", "Mul"))
def import_normalize(ctx, node):
    """SSD fork: x / sqrt(sum x^2 + eps) over channels (or C,H,W with across_spatial), times scale."""
    p = node.norm_param
    shp = ctx.shape(0)
    axes = list(range(1, len(shp))) if p.across_spatial else [1]
    y = ctx.op("LpNormalization", ctx.x(0), axes=axes, p=2, epsilon=float(p.eps), eps_inside=1)
    if p.channel_shared:
        scale = ctx.param(0, ()).reshape(1)
    else:
        scale = ctx.param(0, (shp[1],)).reshape((shp[1],) + (1,) * (len(shp) - 2))
    ctx.top(0, "Mul", [y, ctx.weight("scale", scale)], shp)
