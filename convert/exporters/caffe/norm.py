"""BatchNormalization -> BatchNorm (+ Scale), LRN, MeanVarianceNormalization -> MVN."""
from __future__ import annotations

import numpy as np

from .context import attr, bad
from .registry import register


@register("BatchNormalization")
def export_batchnorm(ctx, node):
    """Caffe's BatchNorm only normalises (blobs mean, var, scale factor 1); the affine
    part is a Scale layer with bias, left out when it is the identity."""
    x, y = ctx.activation(node.inputs[0]), node.outputs[0]
    gamma, beta, mean, var = (ctx.const(v) for v in node.inputs[1:5])
    if any(v is None for v in (gamma, beta, mean, var)):
        raise bad("inputs", node.inputs[1:5], "BatchNorm parameters must be constants")
    if len(node.outputs) > 1 and any(node.outputs[1:]):
        raise bad("outputs", node.outputs, "training-mode statistics outputs")
    c = mean.size
    affine = not (np.all(gamma == 1) and np.all(beta == 0))
    t = ctx.tmp("normalized") if affine else y
    lp = ctx.add("BatchNorm", [x], [t], blobs=[mean.reshape(c), var.reshape(c), np.ones(1, np.float32)])
    eps = float(attr(node, "epsilon"))
    if abs(eps - 1e-5) > 1e-12:
        lp.batch_norm_param.eps = eps
    if affine:
        ctx.add("Scale", [t], [y], suffix="scale", blobs=[gamma.reshape(c), beta.reshape(c)]
                ).scale_param.bias_term = True


@register("LRN")
def export_lrn(ctx, node):
    """Across channels; IR and Caffe both divide alpha by size."""
    size = int(attr(node, "size"))
    if size % 2 == 0:
        raise bad("size", size, "Caffe's LRN needs an odd size (an even window is centred differently)")
    p = ctx.add("LRN", [ctx.activation(node.inputs[0])], [node.outputs[0]]).lrn_param
    p.local_size = size
    p.alpha = float(attr(node, "alpha"))
    p.beta = float(attr(node, "beta"))
    p.k = float(attr(node, "bias"))


@register("MeanVarianceNormalization")
def export_mvn(ctx, node):
    """Caffe MVN (eps after the square root) per sample over (C,)H,W; with eps inside the
    square root and axes (0, 2, ...) it is a batch-statistics BatchNorm."""
    x = ctx.activation(node.inputs[0])
    rank = len(ctx.shape(x))
    axes = sorted(int(a) % rank for a in attr(node, "axes"))
    eps, after = float(attr(node, "epsilon")), int(attr(node, "eps_after_sqrt"))
    norm_var = int(attr(node, "normalize_variance"))
    if after and axes in (list(range(2, rank)), list(range(1, rank))):
        p = ctx.add("MVN", [x], [node.outputs[0]]).mvn_param
        if axes[0] == 1:
            p.across_channels = True
        if not norm_var:
            p.normalize_variance = False
        if eps != 1e-9:
            p.eps = eps
        return
    if not after and norm_var and axes == [0] + list(range(2, rank)):
        c = ctx.shape(x)[1]
        lp = ctx.add("BatchNorm", [x], [node.outputs[0]],
                     blobs=[np.zeros(c, np.float32), np.ones(c, np.float32), np.ones(1, np.float32)])
        lp.batch_norm_param.use_global_stats = False
        lp.batch_norm_param.eps = eps
        return
    raise bad("axes", axes, "Caffe normalises per sample over (C,)H,W (MVN) or over N,H,W (BatchNorm)")


@register("LpNormalization")
def export_lp_normalization(ctx, node):
    """L2 normalisation (eps inside the square root) over channels, or over C,H,W: the
    SSD fork's Normalize (norm_param = 206), written only with allow_fork; a
    following per-channel or scalar constant Mul becomes its scale blob."""
    x, y = ctx.activation(node.inputs[0]), node.outputs[0]
    shp = ctx.shape(x)
    axes = sorted(int(a) % len(shp) for a in attr(node, "axes"))
    if int(attr(node, "p")) != 2 or not int(attr(node, "eps_inside")) or axes not in ([1], list(range(1, len(shp)))):
        raise bad("p/axes", (attr(node, "p"), axes), "Normalize is the L2 norm over channels or over C,H,W")
    if not ctx.allow_fork:
        raise bad("op", "Normalize", "needs the SSD fork layer Normalize (not in BVLC Caffe); allow fork layers")
    scale = np.ones(1, np.float32)
    nxt = ctx.sole_consumer(y)
    if nxt is not None and nxt.op == "Mul" and nxt.inputs[0] == y:
        s = ctx.const(nxt.inputs[1])
        if s is not None and (s.size == 1 or (s.size == shp[1] and s.reshape(-1).shape[0] == s.shape[0])):
            scale = s.reshape(-1).astype(np.float32)
            ctx.done.add(nxt.name)
            y = nxt.outputs[0]
    p = ctx.add("Normalize", [x], [y], blobs=[scale]).norm_param
    p.across_spatial = len(axes) > 1
    p.channel_shared = scale.size == 1
    p.eps = float(attr(node, "epsilon"))
