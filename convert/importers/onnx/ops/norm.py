"""Normalisations computed from the input's own statistics: BatchNormalization in training
mode, MeanVarianceNormalization, LayerNormalization's Mean/InvStdDev outputs. Each is
written as IR reductions and arithmetic, so every target that has those ops gets it."""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ..context import DataDependent
from ..registry import register

_MOMENTS = ("Add", "Div", "Mul", "ReduceMean", "Sqrt", "Sub")


def _scalar(ctx, base: str, value: float) -> str:
    return ctx.b.weight(base, np.array(value, dtype=ctx.dtype(0) or "float32"))


def _rank(ctx, what: str, value) -> int:
    rank = ctx.rank(0)
    if rank is None:
        raise DataDependent(what, value, "statistics over axes need the input rank")
    return rank


def moments(ctx, axes: list[int]) -> tuple[str, str, str]:
    """The mean over ``axes`` (kept), the centred input and the biased variance (kept)."""
    x = ctx.x(0)
    mean = ctx.tmp("ReduceMean", [x], axes=axes, keepdims=1)
    centred = ctx.tmp("Sub", [x, mean])
    var = ctx.tmp("ReduceMean", [ctx.tmp("Mul", [centred, centred])], axes=axes, keepdims=1)
    return mean, centred, var


def layernorm_stats(ctx) -> None:
    """LayerNormalization's optional Mean and InvStdDev outputs."""
    rank = _rank(ctx, "axis", ctx.attr("axis", -1))
    mean, _, var = moments(ctx, list(range(int(ctx.attr("axis", -1)) % rank, rank)))
    eps = _scalar(ctx, "epsilon", ctx.attr("epsilon", 1e-5))
    inv = ctx.tmp("Reciprocal", [ctx.tmp("Sqrt", [ctx.tmp("Add", [var, eps])])])
    for k, v in ((1, mean), (2, inv)):
        ctx.alias(k, v)


@register("MeanVarianceNormalization", emits=_MOMENTS, decomposed=True)
def import_mvn(ctx, node):
    """(x - mean) / (sqrt(var) + 1e-9) over ``axes``: ONNX's function body, epsilon after the
    square root. Written out (not the IR's own op) so that the Keras and LiteRT writers,
    which lack that op, get it too."""
    rank = _rank(ctx, "axes", ctx.attr("axes"))
    axes = sorted(int(a) % rank for a in ctx.attr("axes", [0, 2, 3]))
    _, centred, var = moments(ctx, axes)
    den = ctx.tmp("Add", [ctx.tmp("Sqrt", [var]), _scalar(ctx, "epsilon", 1e-9)])
    ctx.emit("Div", [centred, den], outputs=[0])


@register("BatchNormalization", emits=_MOMENTS + ("Reshape",))
def import_batchnorm(ctx, node):
    """Inference: the IR op with the stored statistics. Training mode (opset 14+): the batch's
    own mean and biased variance over every axis but 1, and the running statistics
    ``stored * momentum + batch * (1 - momentum)`` as outputs 1 and 2."""
    if ctx.attr("spatial", 1) != 1:
        raise UnsupportedAttributeError("spatial", ctx.attr("spatial"), "per-element statistics")
    eps = float(ctx.attr("epsilon", 1e-5))
    if ctx.opset < 14 and any(ctx.uses(k) for k in range(1, len(node.output))):
        raise UnsupportedAttributeError("outputs", list(node.output), "the batch statistics outputs of "
                                        "opset < 14 training-mode batch norm (opset 14+ training_mode=1 is read)")
    if not ctx.attr("training_mode", 0):
        ctx.emit("BatchNormalization", [ctx.x(i) for i in range(5)], {"epsilon": eps}, outputs=[0])
        return
    rank = _rank(ctx, "training_mode", 1)
    axes = [0] + list(range(2, rank))
    mean, centred, var = moments(ctx, axes)
    per_channel = [-1] + [1] * (rank - 2)
    scale, bias = (ctx.tmp("Reshape", [ctx.x(i)], shape=per_channel) for i in (1, 2))
    normed = ctx.tmp("Div", [ctx.tmp("Mul", [centred, scale]),
                             ctx.tmp("Sqrt", [ctx.tmp("Add", [var, _scalar(ctx, "epsilon", eps)])])])
    ctx.emit("Add", [normed, bias], outputs=[0])
    momentum = float(ctx.attr("momentum", 0.9))
    for k, batch in ((1, mean), (2, var)):
        if ctx.uses(k):
            kept = ctx.tmp("Mul", [ctx.x(k + 2), _scalar(ctx, "momentum", momentum)])
            new = ctx.tmp("Mul", [ctx.tmp("Reshape", [batch], shape=[-1]), _scalar(ctx, "1-momentum", 1.0 - momentum)])
            ctx.emit("Add", [kept, new], outputs=[k])
