"""Upsampling: nearest and (bi/tri)linear resize, pixel shuffle."""
from __future__ import annotations

from ....errors import UnsupportedAttributeError
from ..context import TorchContext
from ..registry import register


def _resize(ctx: TorchContext, node, mode: str, x, output_size, scale_factors, align_corners=None) -> str:
    in_sp = ctx.shape(x)[2:]
    out_sp = ctx.shape(node)[2:]
    if scale_factors:  # torch maps coordinates with the given factor, as ONNX does with scales
        scales = [float(s) for s in ints_f(scale_factors, len(in_sp))]
    else:
        if not all(isinstance(d, int) for d in in_sp + out_sp):
            raise UnsupportedAttributeError("output_size", output_size, "needs static spatial sizes")
        scales = [o / i for o, i in zip(out_sp, in_sp)]
    if mode == "nearest":
        return ctx.op("Resize", ctx.v(x), scales=[1.0, 1.0] + scales, mode="nearest",
                      coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    ctm = "align_corners" if align_corners else "pytorch_half_pixel"
    return ctx.op("Resize", ctx.v(x), scales=[1.0, 1.0] + scales, mode=mode, coordinate_transformation_mode=ctm)


def ints_f(v, n: int) -> list[float]:
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return v * n if len(v) == 1 else v


@register("aten.upsample_nearest1d.vec", "aten.upsample_nearest2d.vec", "aten.upsample_nearest3d.vec",
          emits=("Resize",))
def import_upsample_nearest(ctx: TorchContext, node) -> str:
    x, size, scales = ctx.args(node)
    return _resize(ctx, node, "nearest", x, size, scales)


@register("aten.upsample_bilinear2d.vec", "aten.upsample_linear1d.vec", "aten.upsample_trilinear3d.vec",
          emits=("Resize",))
def import_upsample_linear(ctx: TorchContext, node) -> str:
    x, size, align, scales = ctx.args(node)
    return _resize(ctx, node, "linear", x, size, scales, align)


def _pixel_blocks(ctx: TorchContext, node, op: str, what: str) -> str:
    """PixelShuffle / PixelUnshuffle: the IR's DepthToSpace / SpaceToDepth in CRD order."""
    x, r = ctx.args(node)
    if ctx.rank(x) != 4:
        raise UnsupportedAttributeError("rank", ctx.rank(x), f"{what} on 4-D input only")
    return ctx.op(op, ctx.v(x), blocksize=int(r), mode="CRD")


@register("aten.pixel_shuffle.default", emits=("DepthToSpace",))
def import_pixel_shuffle(ctx: TorchContext, node) -> str:
    return _pixel_blocks(ctx, node, "DepthToSpace", "PixelShuffle")


@register("aten.pixel_unshuffle.default", emits=("SpaceToDepth",))
def import_pixel_unshuffle(ctx: TorchContext, node) -> str:
    return _pixel_blocks(ctx, node, "SpaceToDepth", "PixelUnshuffle")
