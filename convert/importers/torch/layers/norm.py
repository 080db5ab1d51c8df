"""Normalisation layers: batch, instance, layer, RMS and group norm."""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ..context import TorchContext
from ..registry import register


def _affine(ctx: TorchContext, w, b, channels: int) -> tuple[str, str]:
    """The per-channel scale and shift; ones and zeros where the layer has no affine."""
    scale = ctx.v(w) if w is not None else ctx.b.weight(ctx.layer_name + ".weight",
                                                         np.ones(ctx.claim("scale of ones", [channels]), np.float32))
    shift = ctx.v(b) if b is not None else ctx.b.weight(ctx.layer_name + ".bias",
                                                        np.zeros(ctx.claim("bias of zeros", [channels]), np.float32))
    return scale, shift


def _bn(ctx: TorchContext, x, w, b, mean, var, eps) -> str:
    scale, bias = _affine(ctx, w, b, int(ctx.meta(x).shape[1]))
    if mean is None or var is None:
        raise UnsupportedAttributeError("track_running_stats", False, "batch statistics at inference")
    return ctx.op("BatchNormalization", ctx.v(x), scale, bias, ctx.v(mean), ctx.v(var), epsilon=float(eps))


@register("aten.batch_norm.default", emits=("BatchNormalization",))
def import_batch_norm(ctx: TorchContext, node) -> str:
    x, w, b, mean, var, training, _momentum, eps, _cudnn = ctx.args(node)
    if training:
        raise UnsupportedAttributeError("training", True, "put the model in eval() mode")
    return _bn(ctx, x, w, b, mean, var, eps)


@register("aten._native_batch_norm_legit_no_training.default", emits=("BatchNormalization",))
def import_native_batch_norm(ctx: TorchContext, node) -> list:
    x, w, b, mean, var, _momentum, eps = ctx.args(node)
    return [_bn(ctx, x, w, b, mean, var, eps), None, None]


@register("aten.layer_norm.default", emits=("LayerNormalization",))
def import_layer_norm(ctx: TorchContext, node) -> str:
    x, shape, w, b, eps, _cudnn = ctx.args(node)
    n = len(shape)
    scale = ctx.v(w) if w is not None else ctx.b.weight(ctx.layer_name + ".weight",
                                                         np.ones(ctx.claim("scale of ones", shape), np.float32))
    ins = [ctx.v(x), scale] + ([ctx.v(b)] if b is not None else [])
    return ctx.op("LayerNormalization", *ins, axis=-n, epsilon=float(eps))


@register("aten.rms_norm.default", emits=("RMSNormalization",))
def import_rms_norm(ctx: TorchContext, node) -> str:
    x, shape, w, eps = ctx.args(node)
    dims = [int(s) for s in shape]
    if eps is None:  # torch's default: the machine epsilon of the input's dtype
        eps = float(np.finfo(np.dtype(ctx.dtype(x))).eps)
    scale = ctx.v(w) if w is not None else ctx.b.weight(ctx.layer_name + ".weight", np.ones(dims, np.float32))
    return ctx.op("RMSNormalization", ctx.v(x), scale, axis=-len(dims), epsilon=float(eps))


def _group_norm(ctx: TorchContext, x, groups, w, b, eps, channels: int | None) -> str:
    """torch's group norm: biased variance per (sample, group), then an affine per channel."""
    if channels is None:
        raise UnsupportedAttributeError("channels", None, "a known channel count")
    scale, shift = _affine(ctx, w, b, channels)
    return ctx.op("GroupNormalization", ctx.v(x), scale, shift, num_groups=int(groups), epsilon=float(eps))


@register("aten.group_norm.default", emits=("GroupNormalization",))
def import_group_norm(ctx: TorchContext, node) -> str:
    x, groups, w, b, eps, _cudnn = ctx.args(node)
    c = ctx.shape(x)[1] if ctx.shape(x) is not None else None
    return _group_norm(ctx, x, groups, w, b, eps, c if isinstance(c, int) else None)


@register("aten.native_group_norm.default", emits=("GroupNormalization",))
def import_native_group_norm(ctx: TorchContext, node) -> list:
    x, w, b, _n, c, _hw, groups, eps = ctx.args(node)
    return [_group_norm(ctx, x, groups, w, b, eps, int(c) if isinstance(c, int) else None), None, None]


@register("aten.instance_norm.default", emits=("InstanceNormalization", "BatchNormalization"))
def import_instance_norm(ctx: TorchContext, node) -> str:
    """Statistics per (sample, channel) over the spatial axes; with
    ``track_running_stats`` in eval mode (use_input_stats False) the running statistics
    apply per channel, which is BatchNorm's inference formula."""
    x, w, b, mean, var, use_input_stats, _momentum, eps, _cudnn = ctx.args(node)
    if not use_input_stats:
        return _bn(ctx, x, w, b, mean, var, eps)
    c = ctx.shape(x)[1]
    if not isinstance(c, int):
        raise UnsupportedAttributeError("channels", c, "a known channel count")
    scale, shift = _affine(ctx, w, b, c)
    return ctx.op("InstanceNormalization", ctx.v(x), scale, shift, epsilon=float(eps))
