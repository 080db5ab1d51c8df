"""BatchNorm, L2Normalization."""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ....ir.perm import inverse
from ..context import NodeContext
from ..registry import register


@register("BatchNorm", "BatchNorm_v1", "CuDNNBatchNorm", emits=("BatchNormalization", "Transpose"))
def import_batch_norm(ctx: NodeContext, node):
    shp = ctx.shape(0)
    rank = len(shp)
    axis = ctx.int("axis", 1)
    if not -rank <= axis < rank:
        raise UnsupportedAttributeError("axis", axis, f"out of range for a {rank}-axis input")
    axis %= rank
    c = shp[axis]
    gamma = ctx.param(1, (c,))
    if ctx.bool("fix_gamma", True):  # MXNet multiplies by 1, whatever the stored gamma holds
        gamma = np.ones((c,), np.float32)
    beta, mean, var = ctx.param(2, (c,)), ctx.param(3, (c,)), ctx.param(4, (c,))
    # Inference always uses the running statistics (use_global_stats only matters in training).
    ws = [ctx.weight(k, a) for k, a in (("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var))]
    eps = ctx.float("eps", 1e-3)
    x = ctx.x(0)
    if axis == 1:
        ctx.out("BatchNormalization", [x, *ws], shp, epsilon=eps)
        return
    perm = [0, axis] + [d for d in range(1, rank) if d != axis]
    moved = tuple(shp[p] for p in perm)
    t = ctx.op("Transpose", x, dims=moved, hint="to_channels_first", perm=perm)
    y = ctx.op("BatchNormalization", t, *ws, dims=moved, epsilon=eps)
    ctx.out("Transpose", [y], shp, perm=list(inverse(perm)))


@register("L2Normalization", emits=("LpNormalization",))
def import_l2_normalization(ctx: NodeContext, node):
    shp = ctx.shape(0)
    mode = ctx.choice("mode", "instance", ("instance", "channel", "spatial"))
    axes = {"instance": list(range(1, len(shp))), "channel": [1], "spatial": list(range(2, len(shp)))}[mode]
    # MXNet: x / sqrt(sum(x^2) + eps)
    ctx.same("LpNormalization", axes=axes, p=2, epsilon=ctx.float("eps", 1e-10), eps_inside=1)
