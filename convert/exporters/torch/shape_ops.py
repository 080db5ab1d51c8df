"""Shape and data-movement ops as torch functions and tensor methods."""
from __future__ import annotations

import math

import numpy as np

from ...ir.windows import conv_out_size
from .context import TORCH_DTYPE, TorchContext, attr, identifier, py, unsupported_attr
from .registry import register
from .resize import export_resize_by_weights

INT64_MAX = int(np.iinfo(np.int64).max)


@register("Concat")
def export_concat(ctx: TorchContext, node):
    ctx.assign(node.outputs[0], f"torch.cat([{', '.join(ctx.x(i) for i in node.inputs)}], dim={attr(node, 'axis')})")


@register("Split")
def export_split(ctx: TorchContext, node):
    x, axis, split = ctx.x(node.inputs[0]), attr(node, "axis"), attr(node, "split")
    if split is None:
        n = len(node.outputs)
        sizes = f"-(-{x}.shape[{axis}] // {n})"  # ONNX: equal parts, the last one smaller
        ctx.assign(node.outputs, f"torch.split({x}, {sizes}, dim={axis})")
    else:
        ctx.assign(node.outputs, f"torch.split({x}, {py(list(split))}, dim={axis})")
    if len(node.outputs) == 1:  # a one-element tuple
        ctx.lines[-1] = ctx.lines[-1].replace(" = ", ", = ", 1)


@register("Slice")
def export_slice(ctx: TorchContext, node):
    x = ctx.x(node.inputs[0])
    starts, ends = attr(node, "starts"), attr(node, "ends")
    axes = attr(node, "axes") or list(range(len(starts)))
    steps = attr(node, "steps") or [1] * len(starts)
    rank = ctx.rank(node.inputs[0])
    if any(a < 0 for a in axes) and rank is None:
        raise unsupported_attr("axes", axes, "negative axes need a known rank")
    axes = [a + rank if a < 0 else a for a in axes]
    idx = [":"] * (max(axes) + 1)
    picks = []  # (axis, indices) of the negative steps, which torch slicing lacks
    for a, s, e, st in zip(axes, starts, ends, steps):
        if st < 0:
            picks.append((a, _negative_step_indices(node, ctx, a, s, e, st)))
            continue
        e_txt = "" if e >= INT64_MAX // 2 else str(e)
        idx[a] = f"{s if s else ''}:{e_txt}" + (f":{st}" if st != 1 else "")
    expr = f"{x}[{', '.join(idx)}]"
    for a, picked in picks:
        expr = f"torch.index_select({expr}, {a}, {ctx.buffer(f'{node.name}_index{a}', picked)})"
    ctx.assign(node.outputs[0], expr)


def _negative_step_indices(node, ctx: TorchContext, axis: int, start: int, end: int, step: int) -> np.ndarray:
    """The indices a negative-step slice picks (ONNX clamps start to [0, n-1], end to [-1, n-1])."""
    shape = ctx.shape(node.inputs[0])
    n = shape[axis] if shape is not None else None
    if not isinstance(n, int):
        raise unsupported_attr("steps", step, "a negative step needs a static size on its axis")
    start, end = (v + n if v < 0 else v for v in (start, end))
    start, end = min(max(start, 0), n - 1), min(max(end, -1), n - 1)
    return np.arange(start, end, step, dtype=np.int64)


@register("Flatten")
def export_flatten(ctx: TorchContext, node):
    axis, x = attr(node, "axis"), ctx.x(node.inputs[0])
    if axis == 1:
        m = ctx.layer(node, "nn.Flatten", [1, -1])
        ctx.assign(node.outputs[0], f"{m}({x})")
    elif axis == 0:
        ctx.assign(node.outputs[0], f"{x}.reshape(1, -1)")
    else:
        ctx.assign(node.outputs[0], f"torch.flatten(torch.flatten({x}, 0, {axis - 1}), 1)")


@register("Reshape")
def export_reshape(ctx: TorchContext, node):
    x, shape = ctx.x(node.inputs[0]), list(attr(node, "shape"))
    keep = not attr(node, "allowzero")  # allowzero=1: a 0 is a zero-sized dimension, not a copy
    dims = [f"{x}.shape[{i}]" if d == 0 and keep else str(d) for i, d in enumerate(shape)]
    if len(node.inputs) > 1 and node.inputs[1]:  # sizes known at run time, read from the like input
        like = ctx.x(node.inputs[1])
        dims = [f"{like}.shape[{a}]" if a >= 0 else d for d, a in zip(dims, attr(node, "like_axes"))]
    ctx.assign(node.outputs[0], f"{x}.reshape({', '.join(dims)}{',' if len(dims) == 1 else ''})")


@register("SizeRange")
def export_size_range(ctx: TorchContext, node):
    like = ctx.x(node.inputs[0])
    ctx.assign(node.outputs[0], f"torch.arange({int(attr(node, 'start'))}, {like}.shape[{int(attr(node, 'axis'))}], "
               f"{int(attr(node, 'delta'))}, dtype={TORCH_DTYPE[attr(node, 'dtype')]}, device={like}.device)")


@register("Transpose")
def export_transpose(ctx: TorchContext, node):
    ctx.assign(node.outputs[0], f"{ctx.x(node.inputs[0])}.permute({py(tuple(attr(node, 'perm')))})")


@register("Squeeze")
def export_squeeze(ctx: TorchContext, node):
    axes = attr(node, "axes")
    x = ctx.x(node.inputs[0])
    ctx.assign(node.outputs[0], f"torch.squeeze({x})" if axes is None else f"torch.squeeze({x}, {py(tuple(axes))})")


@register("Unsqueeze")
def export_unsqueeze(ctx: TorchContext, node):
    axes, x = sorted(attr(node, "axes")), ctx.x(node.inputs[0])
    rank = ctx.rank(node.inputs[0])
    if any(a < 0 for a in axes):
        if rank is None:
            raise unsupported_attr("axes", axes, "negative axes need a known rank")
        axes = sorted(a + rank + len(axes) for a in axes)
    expr = x
    for a in axes:
        expr = f"torch.unsqueeze({expr}, {a})"
    ctx.assign(node.outputs[0], expr)


_PAD_MODE = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


@register("Pad")
def export_pad(ctx: TorchContext, node):
    pads, mode = list(attr(node, "pads")), attr(node, "mode")
    n = len(pads) // 2
    begin, end = pads[:n], pads[n:]
    # F.pad lists axes from the last; trailing all-zero leading axes can be left out.
    first = next((i for i in range(n) if begin[i] or end[i]), n)
    if mode != "constant" and first < 2:
        raise unsupported_attr("pads", pads, f"{mode} padding of the batch or channel axis")
    lst = []
    for b, e in zip(reversed(begin[first:]), reversed(end[first:])):
        lst += [int(b), int(e)]
    value = float(attr(node, "value"))
    extra = f", value={py(value)}" if mode == "constant" and value != 0.0 else ""
    ctx.assign(node.outputs[0], f"F.pad({ctx.x(node.inputs[0])}, {lst}, mode={_PAD_MODE[mode]!r}{extra})")


_INTERP = {("nearest", "asymmetric"): ("nearest", None), ("linear", "half_pixel"): ("linear", False),
           ("linear", "pytorch_half_pixel"): ("linear", False), ("linear", "align_corners"): ("linear", True),
           ("cubic", "half_pixel"): ("bicubic", False), ("cubic", "pytorch_half_pixel"): ("bicubic", False),
           ("cubic", "align_corners"): ("bicubic", True)}


def _interpolate_can(node, ctx: TorchContext) -> bool:
    """F.interpolate computes exactly this resize."""
    mode, ctm = attr(node, "mode"), attr(node, "coordinate_transformation_mode")
    scales, sizes = attr(node, "scales"), attr(node, "sizes")
    vals = scales if scales is not None else sizes
    shape = ctx.shape(node.inputs[0])
    if (mode, ctm) not in _INTERP or vals is None or len(vals) < 3 or attr(node, "exclude_outside") \
            or attr(node, "antialias") or len(vals) > 5 or (mode == "cubic" and len(vals) != 4):
        return False
    if (mode == "nearest" and attr(node, "nearest_mode") != "floor") or \
            (mode == "cubic" and float(attr(node, "cubic_coeff_a")) != -0.75):
        return False
    out = ctx.shape(node.outputs[0])
    if ctm == "pytorch_half_pixel" and (out is None or 1 in out[2:]):
        return False  # torch maps a single output sample to the centre, ONNX to -0.5
    if scales is not None:
        # ONNX align_corners divides by scale * length - 1, torch by the integer output length - 1
        fractional = shape is not None and any(isinstance(n, int) and float(s) * n != math.floor(float(s) * n)
                                               for s, n in zip(scales[2:], shape[2:]))
        return [float(s) for s in scales[:2]] == [1.0, 1.0] and not (ctm == "align_corners" and fractional)
    return shape is not None and list(shape[:2]) == [int(s) for s in sizes[:2]]


@register("Resize")
def export_resize(ctx: TorchContext, node):
    if not _interpolate_can(node, ctx):
        export_resize_by_weights(ctx, node)
        return
    mode, ctm = attr(node, "mode"), attr(node, "coordinate_transformation_mode")
    scales, sizes = attr(node, "scales"), attr(node, "sizes")
    nd = len(scales if scales is not None else sizes) - 2
    tmode, align = _INTERP[(mode, ctm)]
    if tmode == "linear":
        tmode = {1: "linear", 2: "bilinear", 3: "trilinear"}[nd]
    size_arg = (f"scale_factor={py(tuple(float(s) for s in scales[2:]))}" if scales is not None
                else f"size={py(tuple(int(s) for s in sizes[2:]))}")
    align_arg = "" if align is None else f", align_corners={align}"
    ctx.assign(node.outputs[0], f"F.interpolate({ctx.x(node.inputs[0])}, {size_arg}, mode={tmode!r}{align_arg})")


@register("GridSample")
def export_grid_sample(ctx: TorchContext, node):
    mode = {"linear": "bilinear", "cubic": "bicubic"}.get(attr(node, "mode"), attr(node, "mode"))
    rank = ctx.rank(node.inputs[0])
    if mode == "bicubic" and rank != 4:
        raise unsupported_attr("mode", attr(node, "mode"), "torch samples cubically in 2-D only")
    x, grid = ctx.x(node.inputs[0]), ctx.x(node.inputs[1])
    pad = attr(node, "padding_mode")
    ctx.assign(node.outputs[0], f"F.grid_sample({x}, {grid}, mode={mode!r}, padding_mode={pad!r}, "
                                f"align_corners={bool(attr(node, 'align_corners'))})")


@register("Tile")
def export_tile(ctx: TorchContext, node):
    ctx.assign(node.outputs[0], f"{ctx.x(node.inputs[0])}.repeat({py(tuple(attr(node, 'repeats')))})")


@register("Expand")
def export_expand(ctx: TorchContext, node):
    x = ctx.x(node.inputs[0])
    if len(node.inputs) > 1 and node.inputs[1]:
        _expand_at_run_time(ctx, node, x, ctx.x(node.inputs[1]))
        return
    shape = list(attr(node, "shape"))
    # ONNX Expand broadcasts both ways (a 1 in `shape` keeps the input dim): multiply by ones.
    ctx.assign(node.outputs[0], f"{x} * torch.ones({py(tuple(shape))}, dtype={x}.dtype)")


def runtime_expand_sides(x_shape: tuple | None, shape_shape: tuple | None) -> list[int | None] | None:
    """Per output axis of an Expand to a shape read at run time: the input's static size
    there (None: the axis is new), or None for the whole list where a side is unknown when
    the program is written (an open input size meeting a shape entry, or an open length
    of the shape operand): which side broadcasts is then decided by values alone."""
    if x_shape is None or shape_shape is None or len(shape_shape) != 1 or not isinstance(shape_shape[0], int):
        return None
    k, r = shape_shape[0], len(x_shape)
    met = x_shape[max(r - k, 0):]
    if any(not isinstance(d, int) or d < 0 for d in met):
        return None
    return [None] * max(k - r, 0) + list(met)


def _size_check(n: str) -> str:
    """A check that lets torch.export pass a size read from values to expand: older torch
    needs ``_check_is_size``, which newer torch deprecates for ``_check(n >= 0)``."""
    import torch

    return f"torch._check({n} >= 0)" if getattr(torch._check_is_size, "__deprecated__", None) else \
        f"torch._check_is_size({n})"


def _expand_at_run_time(ctx: TorchContext, node, x: str, s: str) -> None:
    """ONNX's two-way broadcast decided from the static input sizes: where the input has 1
    the output takes the shape entry, elsewhere the input's size (the entry must be 1 or
    that size). Written with plain ints and torch._check, so torch.export records the
    entries as unbacked sizes and the program takes other shapes at run time."""
    sides = runtime_expand_sides(ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1]))
    if sides is None:  # eager only (the .pt2 writer refuses it): torch.broadcast_shapes decides
        ctx.assign(node.outputs[0], f"torch.broadcast_to({x}, torch.broadcast_shapes({x}.shape, "
                                    f"tuple({s}.tolist())))")
        return
    if not sides:  # an empty shape: the input as it is
        ctx.assign(node.outputs[0], x)
        return
    names = [ctx.tmp(f"{identifier(node.outputs[0])}_{i}") for i in range(len(sides))]
    ctx.line(f"{''.join(n + ', ' for n in names)}= {s}.tolist()")
    sizes = []
    for n, d in zip(names, sides):
        if d is None or d == 1:
            ctx.line(_size_check(n))
            sizes.append(n)
        else:  # a product, not `|`: torch 2.6 cannot save a SymBool `or` in a .pt2
            ctx.line(f"torch._check(({n} - 1) * ({n} - {d}) == 0, lambda: 'Expand: cannot broadcast size {d} to '"
                     f" + str({n}))")
            sizes.append("-1")
    kept = max(len(ctx.shape(node.inputs[0])) - len(sides), 0)
    ctx.assign(node.outputs[0], f"{x}.expand({', '.join(['-1'] * kept + sizes)})")


@register("Gather")
def export_gather(ctx: TorchContext, node):
    data, idx, axis = node.inputs[0], node.inputs[1], attr(node, "axis")
    w = ctx.weight(data)
    if w is not None and axis == 0 and w.ndim == 2 and ctx.weight(idx) is None:
        m = ctx.layer(node, "nn.Embedding", [int(w.shape[0]), int(w.shape[1])], {}, {"weight": w})
        ctx.assign(node.outputs[0], f"{m}({ctx.x(idx)})")
        return
    iw = ctx.weight(idx)
    x = ctx.x(data)
    i = ctx.x(idx)
    if iw is None or (iw < 0).any():  # index_select takes no negative indices: count them from the end
        i = f"torch.where({i} < 0, {i} + {x}.shape[{axis}], {i})"
    if iw is not None and iw.ndim == 0:
        ctx.assign(node.outputs[0], f"torch.select({x}, {axis}, {int(iw)})")
    elif iw is not None and iw.ndim == 1:
        ctx.assign(node.outputs[0], f"torch.index_select({x}, {axis}, {i})")
    else:
        ctx.assign(node.outputs[0], f"torch.index_select({x}, {axis}, {i}.reshape(-1)).reshape("
                                    f"{x}.shape[:{axis}] + {ctx.x(idx)}.shape + {x}.shape[{axis} + 1:])")


@register("DepthToSpace")
def export_depth_to_space(ctx: TorchContext, node):
    b, x = int(attr(node, "blocksize")), ctx.x(node.inputs[0])
    if attr(node, "mode") == "CRD":
        m = ctx.layer(node, "nn.PixelShuffle", [b])
        ctx.assign(node.outputs[0], f"{m}({x})")
        return
    t = ctx.tmp(node.name + "_blocks")
    ctx.line(f"{t} = {x}.reshape({x}.shape[0], {b}, {b}, {x}.shape[1] // {b * b}, {x}.shape[2], {x}.shape[3])")
    ctx.assign(node.outputs[0], f"{t}.permute(0, 3, 4, 1, 5, 2).reshape({t}.shape[0], {t}.shape[3], "
                                f"{t}.shape[4] * {b}, {t}.shape[5] * {b})")


@register("SpaceToDepth")
def export_space_to_depth(ctx: TorchContext, node):
    b, x = int(attr(node, "blocksize")), ctx.x(node.inputs[0])
    if attr(node, "mode") == "CRD":
        m = ctx.layer(node, "nn.PixelUnshuffle", [b])
        ctx.assign(node.outputs[0], f"{m}({x})")
        return
    t = ctx.tmp(node.name + "_blocks")
    ctx.line(f"{t} = {x}.reshape({x}.shape[0], {x}.shape[1], {x}.shape[2] // {b}, {b}, {x}.shape[3] // {b}, {b})")
    ctx.assign(node.outputs[0], f"{t}.permute(0, 3, 5, 1, 2, 4).reshape({t}.shape[0], {t}.shape[1] * {b * b}, "
                                f"{t}.shape[2], {t}.shape[4])")


@register("Cast")
def export_cast(ctx: TorchContext, node):
    ctx.assign(node.outputs[0], f"{ctx.x(node.inputs[0])}.to({TORCH_DTYPE[attr(node, 'to')]})")


@register("Constant")
def export_constant(ctx: TorchContext, node):
    ctx.assign(node.outputs[0], ctx.x(attr(node, "weight")))


@register("BitCast")
def export_bitcast(ctx: TorchContext, node):
    ctx.assign(node.outputs[0], f"{ctx.x(node.inputs[0])}.view({TORCH_DTYPE[attr(node, 'to')]})")


@register("AffineGrid")
def export_affine_grid(ctx: TorchContext, node):
    size = [int(v) for v in attr(node, "size")]
    align = bool(attr(node, "align_corners"))
    ctx.assign(node.outputs[0], f"F.affine_grid({ctx.x(node.inputs[0])}, {py(size)}, align_corners={align})")


def col2im_targets(image: list[int], block: list[int], strides: list[int], pads: list[int],
                   dilations: list[int]) -> np.ndarray:
    """For each (kernel offset, block position) column entry, in Col2Im's row-major order, the
    flat image position it adds into; entries that land in the padding get prod(image)."""
    nd = len(image)
    counts = [conv_out_size(i, block[d], strides[d], dilations[d], pads[d], pads[nd + d])
              for d, i in enumerate(image)]
    k = np.indices(block).reshape(nd, -1, 1)      # offsets inside the block
    p = np.indices(counts).reshape(nd, 1, -1)     # block positions
    pos = [p[d] * strides[d] - pads[d] + k[d] * dilations[d] for d in range(nd)]
    inside = np.logical_and.reduce([(q >= 0) & (q < image[d]) for d, q in enumerate(pos)])
    flat = np.ravel_multi_index([np.clip(q, 0, image[d] - 1) for d, q in enumerate(pos)], image)
    return np.where(inside, flat, int(np.prod(image))).reshape(-1).astype(np.int64)


@register("Col2Im")
def export_col2im(ctx: TorchContext, node):
    """``F.fold`` for 2 spatial axes with symmetric pads; otherwise an ``index_add`` of every
    column entry into its image position (an index buffer computed from the attributes),
    with one spare slot that collects the entries falling in the padding."""
    block = [int(v) for v in attr(node, "block_shape")]
    nd = len(block)
    pads = [int(p) for p in (attr(node, "pads") or [0] * (2 * nd))]
    strides, dilations = (list(attr(node, k) or [1] * nd) for k in ("strides", "dilations"))
    image = [int(v) for v in attr(node, "image_shape")]
    x = ctx.x(node.inputs[0])
    if nd == 2 and pads[:nd] == pads[nd:]:
        kwargs = dict(kernel_size=tuple(block), dilation=tuple(dilations), padding=tuple(pads[:nd]),
                      stride=tuple(strides))
        args = ", ".join(f"{k}={py(v)}" for k, v in kwargs.items())
        ctx.assign(node.outputs[0], f"F.fold({x}, {py(tuple(image))}, {args})")
        return
    index = ctx.buffer(f"{node.name}_target", col2im_targets(image, block, strides, pads, dilations))
    k, total = int(np.prod(block)), int(np.prod(image))
    cols = ctx.tmp(node.name + "_cols")
    ctx.line(f"{cols} = {x}.reshape({x}.shape[0], {x}.shape[1] // {k}, -1)")
    summed = f"torch.index_add({cols}.new_zeros({cols}.shape[0], {cols}.shape[1], {total + 1}), 2, {index}, {cols})"
    ctx.assign(node.outputs[0], f"{summed}[:, :, :{total}].reshape({cols}.shape[0], {cols}.shape[1], "
                                f"{', '.join(str(i) for i in image)})")


@register("ReverseSequence")
def export_reverse_sequence(ctx: TorchContext, node):
    """A gather along time: step t of entry b reads lens[b] - 1 - t while t < lens[b]."""
    x, lens = ctx.x(node.inputs[0]), ctx.x(node.inputs[1])
    time, batch = int(attr(node, "time_axis")), int(attr(node, "batch_axis"))
    if {time, batch} != {0, 1}:
        raise unsupported_attr("time_axis/batch_axis", [time, batch], "axes 0 and 1 (ONNX's only choices)")
    steps, idx = ctx.tmp("steps"), ctx.tmp("index")
    t_shape, b_shape = ("(-1, 1)", "(1, -1)") if time == 0 else ("(1, -1)", "(-1, 1)")
    ctx.line(f"{steps} = torch.arange({x}.shape[{time}], device={x}.device).reshape{t_shape}")
    ctx.line(f"{idx} = {lens}.to(torch.int64).reshape{b_shape}")
    ctx.line(f"{idx} = torch.where({steps} < {idx}, {idx} - 1 - {steps}, {steps})")
    expanded = f"{idx}.reshape({idx}.shape + (1,) * ({x}.dim() - 2)).expand_as({x})"
    ctx.assign(node.outputs[0], f"torch.gather({x}, {time}, {expanded})")
