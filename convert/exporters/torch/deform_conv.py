"""DeformConv in plain torch ops (no torchvision: its compiled ops do not load beside every
torch build): each kernel tap's bilinear sample gathered from its four neighbours (zero
outside the input), then one grouped matrix product with the weights."""
from __future__ import annotations

from .context import TorchContext, attr, unsupported_attr
from .registry import register


@register("DeformConv")
def export_deform_conv(ctx: TorchContext, node):
    kernel = list(attr(node, "kernel_shape"))
    if len(kernel) != 2:
        raise unsupported_attr("kernel_shape", kernel, "2-D deformable convolution")
    (kh, kw), k = kernel, kernel[0] * kernel[1]
    sh, sw = attr(node, "strides") or [1, 1]
    dh, dw = attr(node, "dilations") or [1, 1]
    ph, pw = (attr(node, "pads") or [0, 0, 0, 0])[:2]  # the end pads only fix the output size
    group, og = int(attr(node, "group")), int(attr(node, "offset_group"))
    ins = list(node.inputs) + [""] * (5 - len(node.inputs))
    x, w, off = (ctx.x(v) for v in ins[:3])
    t = {name: ctx.tmp(name) for name in ("n", "c", "h", "w", "oh", "ow", "o", "ys", "xs", "y0", "x0", "xg", "val")}
    line = ctx.line
    line(f"{t['n']}, {t['c']}, {t['h']}, {t['w']} = {x}.shape")
    line(f"{t['oh']}, {t['ow']} = {off}.shape[2], {off}.shape[3]")
    line(f"{t['o']} = {off}.reshape({t['n']}, {og}, {k}, 2, {t['oh']}, {t['ow']})")
    # sampling positions (N, offset_group, taps, oH, oW): regular grid plus the offsets
    taps_h = f"(torch.arange({kh}, device={x}.device) * {dh}).repeat_interleave({kw})"
    taps_w = f"(torch.arange({kw}, device={x}.device) * {dw}).repeat({kh})"
    line(f"{t['ys']} = {t['o']}[:, :, :, 0] + ({taps_h}[:, None, None] + "
         f"(torch.arange({t['oh']}, device={x}.device) * {sh} - {ph})[None, :, None]).to({x}.dtype)")
    line(f"{t['xs']} = {t['o']}[:, :, :, 1] + ({taps_w}[:, None, None] + "
         f"(torch.arange({t['ow']}, device={x}.device) * {sw} - {pw})[None, None, :]).to({x}.dtype)")
    line(f"{t['y0']}, {t['x0']} = {t['ys']}.floor(), {t['xs']}.floor()")
    line(f"{t['xg']} = {x}.reshape({t['n']}, {og}, {t['c']} // {og}, {t['h']} * {t['w']})")
    corners = []
    for dy in (0, 1):
        for dx in (0, 1):
            yy, xx = f"({t['y0']} + {dy})", f"({t['x0']} + {dx})"
            wy = f"({t['ys']} - {t['y0']})" if dy else f"(1 - ({t['ys']} - {t['y0']}))"
            wx = f"({t['xs']} - {t['x0']})" if dx else f"(1 - ({t['xs']} - {t['x0']}))"
            inside = f"(({yy} >= 0) & ({yy} <= {t['h']} - 1) & ({xx} >= 0) & ({xx} <= {t['w']} - 1))"
            index = f"({yy}.clamp(0, {t['h']} - 1) * {t['w']} + {xx}.clamp(0, {t['w']} - 1)).long()"
            c = ctx.tmp(f"corner{dy}{dx}")
            line(f"{c} = torch.gather({t['xg']}, 3, {index}.reshape({t['n']}, {og}, 1, -1)"
                 f".expand(-1, -1, {t['c']} // {og}, -1)) * ({wy} * {wx} * {inside}).reshape({t['n']}, {og}, 1, -1)")
            corners.append(c)
    line(f"{t['val']} = {' + '.join(corners)}")
    if ins[4]:
        line(f"{t['val']} = {t['val']} * {ctx.x(ins[4])}.reshape({t['n']}, {og}, 1, -1)")
    # (N, C, taps, positions) -> per group (C/group * taps) columns: W's (C/group, kH, kW) order
    cols = f"{t['val']}.reshape({t['n']}, {group}, -1, {t['oh']} * {t['ow']})"
    wm = f"{w}.reshape({group}, {w}.shape[0] // {group}, -1)"
    out = f"torch.einsum('gok,ngkp->ngop', {wm}, {cols}).reshape({t['n']}, -1, {t['oh']}, {t['ow']})"
    if ins[3]:
        out = f"{out} + {ctx.x(ins[3])}.reshape(1, -1, 1, 1)"
    ctx.assign(node.outputs[0], out)
