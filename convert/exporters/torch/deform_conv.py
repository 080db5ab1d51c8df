"""DeformConv in plain torch ops (no torchvision: its compiled ops do not load beside every
torch build), for 1 to 3 spatial axes: each kernel tap's linear, bilinear or trilinear
sample gathered from its 2**N neighbours (zero outside the input), then one grouped matrix
product with the weights."""
from __future__ import annotations

import itertools
import math

from ...ir.windows import conv_window
from .context import TorchContext, attr, unsupported_attr
from .registry import register

# 2**N gathers per tap: beyond Conv's three spatial axes the generated code would grow
# exponentially with a rank taken from the file.
MAX_SPATIAL_AXES = 3


def _grid(arange: str, axis: int, sizes: list[str]) -> str:
    """``arange`` (one axis of an N-D grid of ``sizes``) broadcast and flattened row-major."""
    if len(sizes) == 1:
        return arange
    view = ", ".join(sizes[axis] if a == axis else "1" for a in range(len(sizes)))
    return f"{arange}.reshape({view}).expand({', '.join(sizes)}).reshape(-1)"


@register("DeformConv")
def export_deform_conv(ctx: TorchContext, node):
    kernel = [int(k) for k in attr(node, "kernel_shape")]
    nd = len(kernel)
    if not 1 <= nd <= MAX_SPATIAL_AXES:
        raise unsupported_attr("kernel_shape", kernel, f"1-D to {MAX_SPATIAL_AXES}-D deformable convolution")
    if min(kernel) < 1:
        raise unsupported_attr("kernel_shape", kernel, "positive sizes")
    # checked again here: a graph read from an IR folder has not met the ONNX reader's checks
    window = conv_window(lambda key: attr(node, key), nd)
    strides, dilations = window["strides"], window["dilations"]
    pads = window["pads"][:nd]  # the end pads only fix the output size
    taps = math.prod(kernel)
    group, og = int(attr(node, "group")), int(attr(node, "offset_group"))
    ins = list(node.inputs) + [""] * (5 - len(node.inputs))
    x, w, off = (ctx.x(v) for v in ins[:3])
    line, dev = ctx.line, f"device={x}.device"
    n, c, o, xg, val, ct = (ctx.tmp(name) for name in ("n", "c", "o", "xg", "val", "ct"))
    size = [ctx.tmp(f"s{a}") for a in range(nd)]  # input spatial sizes
    out = [ctx.tmp(f"o{a}") for a in range(nd)]  # output spatial sizes
    pos = [ctx.tmp(f"p{a}") for a in range(nd)]  # sampling positions (N, offset_group, taps, outputs)
    low = [ctx.tmp(f"f{a}") for a in range(nd)]  # their floors
    line(f"{n}, {c} = {x}.shape[0], {x}.shape[1]")
    line(f"{', '.join(size)}, = {x}.shape[2:]")
    line(f"{', '.join(out)}, = {off}.shape[2:]")
    # positions and weights at least in float32: half precision resolves 1/32 pixel at 64
    line(f"{ct} = torch.promote_types({x}.dtype, torch.float32)")
    line(f"{o} = {off}.reshape({n}, {og}, {taps}, {nd}, {' * '.join(out)})")
    kernel_sizes = [str(k) for k in kernel]
    for a in range(nd):
        # the regular grid (tap * dilation + output * stride - pad) plus the offsets
        tap = _grid(f"(torch.arange({kernel[a]}, {dev}) * {dilations[a]})", a, kernel_sizes)
        at = _grid(f"(torch.arange({out[a]}, {dev}) * {strides[a]} - {pads[a]})", a, out)
        line(f"{pos[a]} = {o}[:, :, :, {a}].to({ct}) + ({tap}[:, None] + {at}[None, :]).to({ct})")
        line(f"{low[a]} = {pos[a]}.floor()")
    line(f"{xg} = {x}.reshape({n}, {og}, {c} // {og}, {' * '.join(size)})")
    for k, corner in enumerate(itertools.product((0, 1), repeat=nd)):
        at = [f"({low[a]} + {corner[a]})" for a in range(nd)]
        weight = " * ".join(f"({pos[a]} - {low[a]})" if corner[a] else f"(1 - ({pos[a]} - {low[a]}))"
                            for a in range(nd))
        inside = " & ".join(f"({at[a]} >= 0) & ({at[a]} <= {size[a]} - 1)" for a in range(nd))
        # the flat index in int64: float coordinates are exact only up to 2**24 elements
        index = f"{at[0]}.clamp(0, {size[0]} - 1).long()"
        for a in range(1, nd):
            index = f"({index} * {size[a]} + {at[a]}.clamp(0, {size[a]} - 1).long())"
        sample = (f"torch.gather({xg}, 3, {index}.reshape({n}, {og}, 1, -1).expand(-1, -1, {c} // {og}, -1))"
                  f" * ({weight} * ({inside})).to({x}.dtype).reshape({n}, {og}, 1, -1)")
        line(f"{val} = {sample}" if k == 0 else f"{val} = {val} + {sample}")
    if ins[4]:
        line(f"{val} = {val} * {ctx.x(ins[4])}.reshape({n}, {og}, 1, -1)")
    # (N, C, taps, outputs) -> per group (C/group * taps) columns: W's (C/group, *kernel) order
    cols = f"{val}.reshape({n}, {group}, -1, {' * '.join(out)})"
    wm = f"{w}.reshape({group}, {w}.shape[0] // {group}, -1)"
    result = f"torch.einsum('gok,ngkp->ngop', {wm}, {cols}).reshape({n}, -1, {', '.join(out)})"
    if ins[3]:
        result = f"{result} + {ctx.x(ins[3])}.reshape(1, -1{', 1' * nd})"
    ctx.assign(node.outputs[0], result)
