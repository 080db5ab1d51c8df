"""Padding: constant, reflect, replicate and circular."""
from __future__ import annotations

from ....errors import UnsupportedAttributeError
from ..context import TorchContext
from ..registry import register


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad(ctx: TorchContext, x, pad, mode: str, value) -> str:
    rank = ctx.rank(x)
    pad = [int(p) for p in pad]
    begin, end = [0] * rank, [0] * rank
    for i in range(len(pad) // 2):  # torch lists the last axis first
        begin[rank - 1 - i], end[rank - 1 - i] = pad[2 * i], pad[2 * i + 1]
    if mode not in _PAD_MODES:
        raise UnsupportedAttributeError("mode", mode, f"supported: {sorted(_PAD_MODES)}")
    return ctx.op("Pad", ctx.v(x), pads=begin + end, mode=_PAD_MODES[mode],
                  value=float(value or 0.0) if mode == "constant" else None)


@register("aten.pad.default", emits=("Pad",))
def import_pad(ctx: TorchContext, node) -> str:
    x, pad, mode, value = ctx.args(node)
    return _pad(ctx, x, pad, mode, value)


@register("aten.constant_pad_nd.default", emits=("Pad",))
def import_constant_pad(ctx: TorchContext, node) -> str:
    x, pad, value = ctx.args(node)
    return _pad(ctx, x, pad, "constant", value)


@register("aten.reflection_pad1d.default", "aten.reflection_pad2d.default", "aten.reflection_pad3d.default",
          emits=("Pad",))
def import_reflection_pad(ctx: TorchContext, node) -> str:
    x, pad = ctx.args(node)
    return _pad(ctx, x, pad, "reflect", None)


@register("aten.replication_pad1d.default", "aten.replication_pad2d.default", "aten.replication_pad3d.default",
          emits=("Pad",))
def import_replication_pad(ctx: TorchContext, node) -> str:
    x, pad = ctx.args(node)
    return _pad(ctx, x, pad, "replicate", None)
