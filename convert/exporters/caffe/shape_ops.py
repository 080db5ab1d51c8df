"""Concat, Split / Slice -> Slice, Flatten / Reshape / Squeeze / Unsqueeze -> Reshape,
Transpose (exact Slice/Reshape/Concat; fork Permute when allowed), Resize nearest
with integer scales -> Deconvolution, Tile, Reductions, Caffe's own ArgMax."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .context import attr, bad
from .registry import register

INT64_MAX = 2 ** 63 - 1


@register("Concat")
def export_concat(ctx, node):
    xs = [ctx.activation(i) for i in node.inputs]
    axis = int(attr(node, "axis")) % len(ctx.shape(xs[0]))
    lp = ctx.add("Concat", xs, [node.outputs[0]])
    if axis != 1:
        lp.concat_param.axis = axis


@register("Split")
def export_split(ctx, node):
    x = ctx.activation(node.inputs[0])
    shp = ctx.shape(x)
    axis = int(attr(node, "axis")) % len(shp)
    n = len(node.outputs)
    sizes = attr(node, "split") or [shp[axis] // n] * n
    if sum(sizes) != shp[axis]:
        raise bad("split", sizes, f"does not add up to axis size {shp[axis]}")
    tops = [o or ctx.tmp(f"unused{k}") for k, o in enumerate(node.outputs)]
    p = ctx.add("Slice", [x], tops).slice_param
    p.axis = axis
    p.slice_point.extend(int(v) for v in np.cumsum(sizes)[:-1])


@register("Slice")
def export_slice(ctx, node):
    """A step-1 window on each axis -> Slice layers (the rest of each axis is silenced)."""
    x = ctx.activation(node.inputs[0])
    shp = ctx.shape(x)
    starts, ends = list(attr(node, "starts")), list(attr(node, "ends"))
    axes = list(attr(node, "axes") or range(len(starts)))
    steps = list(attr(node, "steps") or [1] * len(starts))
    if any(s != 1 for s in steps):
        raise bad("steps", steps, "Caffe's Slice takes contiguous parts only")
    windows = {}
    for a, s, e in zip(axes, starts, ends):
        a %= len(shp)
        size = shp[a]
        s = min(max(s + size if s < 0 else s, 0), size)
        e = min(max(e + size if e < 0 else e, 0), size) if e < INT64_MAX else size
        if e <= s:
            raise bad("ends", ends, "an empty slice")
        windows[a] = (s, e - s)
    ctx.crop(x, node.outputs[0], windows, first=True)


def _reshape_to(ctx, x: str, y: str, suffix: str = "") -> None:
    """A Reshape to y's shape: 0 keeps the first axis when it is unchanged, -1 stands for
    an axis that follows the batch, so the net still reshapes to another batch size."""
    shp, out, dx, dy = ctx.shape(x), ctx.shape(y), ctx.dynamic(x), ctx.dynamic(y)
    keep = bool(out) and bool(shp) and out[0] == shp[0] and (0 in dx) == (0 in dy)
    reshape(ctx, x, y, out, keep_first=keep, dynamic=dy, suffix=suffix)


@register("Flatten")
def export_flatten(ctx, node):
    x = ctx.activation(node.inputs[0])
    if int(attr(node, "axis")) % max(len(ctx.shape(x)), 1) == 1:
        ctx.add("Flatten", [x], [node.outputs[0]])  # axis 1 .. end, as Caffe's default
    else:
        _reshape_to(ctx, x, node.outputs[0])


@register("Reshape")
def export_reshape(ctx, node):
    if len(node.inputs) > 1 and node.inputs[1]:
        raise bad("like", node.inputs[1], "sizes known when the net is written (Caffe reshape_param)")
    x = ctx.activation(node.inputs[0])
    dims = [int(d) for d in attr(node, "shape")]
    if attr(node, "allowzero") and 0 in dims:
        raise bad("allowzero", 1, "a literal 0 dimension (empty tensor)")
    # Caffe's Reshape rule is ONNX's with allowzero=0: 0 copies the input dim, one -1 inferred.
    ctx.add("Reshape", [x], [node.outputs[0]]).reshape_param.shape.dim.extend(dims)


@register("Squeeze", "Unsqueeze")
def export_squeeze(ctx, node):
    _reshape_to(ctx, ctx.activation(node.inputs[0]), node.outputs[0])


MAX_PIECES = 4096  # above this, an upstream transpose (one Reshape per piece) is unreasonably large


def _is_reshape(shape, perm, dyn=frozenset()) -> bool:
    """Whether transposing only moves size-1 axes (then it is a Reshape); an axis that
    follows the batch counts as larger than 1 whatever its size here."""
    moved = [p for p in perm if shape[p] != 1 or p in dyn]
    return moved == sorted(moved)


@lru_cache(maxsize=256)
def _plan(shape: tuple, perm: tuple, dyn: frozenset = frozenset()) -> tuple[int, int | None]:
    """(pieces, input axis to cut first) for the cheapest exact upstream transpose; an
    axis that follows the batch is cut only when nothing else works (it fixes the batch)."""
    if _is_reshape(shape, perm, dyn):
        return 1, None
    best: tuple = (None, None)
    for a, n in enumerate(shape):
        if n > 1 or a in dyn:
            rest = _plan(shape[:a] + (1,) + shape[a + 1:], perm, dyn - {a})[0]
            cnt = (n if a not in dyn else MAX_PIECES + n) * rest
            if best[0] is None or cnt < best[0]:
                best = (cnt, a)
    return best


def reshape(ctx, x: str, y: str, dims, *, keep_first: bool = False, dynamic=(), suffix: str = "") -> None:
    """A Reshape to ``dims``: 0 for the first axis when it is the input's first axis
    (``keep_first``), -1 for one axis that follows the batch (``dynamic``), so the net
    still reshapes when Caffe is fed another batch size."""
    dims = [int(d) for d in dims]
    free = [k for k in sorted(dynamic) if not (keep_first and k == 0)]
    if keep_first:
        dims[0] = 0
    if len(free) == 1:
        dims[free[0]] = -1
    ctx.add("Reshape", [x], [y], suffix=suffix).reshape_param.shape.dim.extend(dims)


def permute(ctx, x: str, y: str, perm, shape=None, dyn=None, *, suffix: str = "") -> None:
    """y = transpose(x, perm) with upstream layers only, exactly (pure data movement):
    a permutation moving only size-1 axes is a Reshape; otherwise x is cut along one axis
    into size-1 slices (Slice), each slice transposed the same way (now one axis fewer to
    move), and the results joined along that axis's output position (Concat). The axis
    cut is the one giving the fewest pieces, never the batch when avoidable; ``dyn``: the
    axes of x that follow the batch (default: from the context)."""
    shape = tuple(int(d) for d in (shape or ctx.shape(x)))
    perm = tuple(int(p) for p in perm)
    dyn = frozenset(ctx.dynamic(x) if dyn is None else dyn)
    out = [shape[p] for p in perm]
    if _is_reshape(shape, perm, dyn):
        reshape(ctx, x, y, out, keep_first=perm[0] == 0, dynamic={k for k, p in enumerate(perm) if p in dyn},
                suffix=suffix)
        return
    count, axis = _plan(shape, perm, dyn)
    if count > MAX_PIECES:
        raise bad("perm", list(perm), f"an upstream Caffe transpose of {shape} takes {count} slices"
                                      f"{' and a fixed batch' if axis in dyn else ''}; "
                                      "allow fork layers to write one Permute")
    sub = shape[:axis] + (1,) + shape[axis + 1:]
    parts = [ctx.tmp(f"cut{axis}_{i}") for i in range(shape[axis])]
    sp = ctx.add("Slice", [x], parts, suffix=f"{suffix}/cut" if suffix else "cut").slice_param
    sp.axis = axis
    sp.slice_point.extend(range(1, shape[axis]))
    moved = []
    for part in parts:
        moved.append(ctx.tmp("moved"))
        permute(ctx, part, moved[-1], perm, sub, dyn - {axis}, suffix=f"{suffix}/piece" if suffix else "piece")
    ctx.add("Concat", moved, [y], suffix=suffix).concat_param.axis = perm.index(axis)


@register("Transpose")
def export_transpose(ctx, node):
    """Exact upstream layers (see ``permute``); with allow_fork, a permutation that is not
    a Reshape is the fork layer Permute (permute_param = 202) instead, one layer."""
    x = ctx.activation(node.inputs[0])
    shp = ctx.shape(x)
    perm = [int(p) for p in attr(node, "perm") or reversed(range(len(shp)))]
    if ctx.allow_fork and not _is_reshape(shp, perm, ctx.dynamic(x)):
        ctx.add("Permute", [x], [node.outputs[0]]).permute_param.order.extend(perm)
        return
    permute(ctx, x, node.outputs[0], perm, shp)


def _nearest_repeat(node, n_in: int, scale: int) -> bool:
    """Whether this Resize's nearest sampling along one axis is 'repeat each element scale times'."""
    mode = attr(node, "coordinate_transformation_mode")
    rounding = attr(node, "nearest_mode")
    n_out = n_in * scale
    d = np.arange(n_out, dtype=np.float64)
    if mode == "asymmetric":
        src = d / scale
    elif mode in ("half_pixel", "pytorch_half_pixel"):
        src = (d + 0.5) / scale - 0.5
    elif mode == "align_corners":
        src = d * (n_in - 1) / (n_out - 1) if n_out > 1 else d * 0
    else:  # tf_half_pixel_for_nn
        src = (d + 0.5) / scale
    if rounding == "floor":
        idx = np.floor(src)
    elif rounding == "ceil":
        idx = np.ceil(src)
    elif rounding == "round_prefer_ceil":
        idx = np.floor(src + 0.5)
    else:
        idx = np.ceil(src - 0.5)
    idx = np.clip(idx, 0, n_in - 1)
    return bool(np.array_equal(idx, d // scale))


@register("Resize")
def export_resize(ctx, node):
    """Nearest upsampling by integer factors on H and W is a depthwise Deconvolution with
    a kernel of ones (kernel = stride = factor): each output is exactly one input value."""
    x = ctx.activation(node.inputs[0])
    shp, out = ctx.shape(x), ctx.shape(node.outputs[0])
    if attr(node, "coordinate_transformation_mode") in ("half_pixel_symmetric", "tf_crop_and_resize"):
        raise bad("coordinate_transformation_mode", attr(node, "coordinate_transformation_mode"),
                  "only pixel-repeating nearest upsampling")
    if len(shp) != 4 or attr(node, "mode") != "nearest" or tuple(out[:2]) != tuple(shp[:2]):
        raise bad("mode", attr(node, "mode"), "only nearest resizing of H and W by integer factors")
    factors = []
    for i, o in zip(shp[2:], out[2:]):
        if o % i or not _nearest_repeat(node, i, o // i):
            raise bad("scales", attr(node, "scales") or attr(node, "sizes"),
                      "only nearest upsampling by integer factors that repeats each pixel")
        factors.append(o // i)
    if factors == [1, 1]:
        ctx.add("Split", [x], [node.outputs[0]])
        return
    c = shp[1]
    w = np.ones((c, 1, *factors), np.float32)
    p = ctx.add("Deconvolution", [x], [node.outputs[0]], blobs=[w]).convolution_param
    p.num_output, p.group, p.bias_term = c, c, False
    for field, vals in (("kernel_size", factors), ("stride", factors)):
        getattr(p, field).extend(vals[:1] if factors[0] == factors[1] else vals)


@register("Tile")
def export_tile(ctx, node):
    x = ctx.activation(node.inputs[0])
    reps = [int(r) for r in attr(node, "repeats")]
    axes = [a for a, r in enumerate(reps) if r != 1]
    if not axes:
        ctx.add("Split", [x], [node.outputs[0]])
        return
    cur = x
    for k, a in enumerate(axes):
        top = node.outputs[0] if k == len(axes) - 1 else ctx.tmp(f"tile{a}")
        p = ctx.add("Tile", [cur], [top], suffix="" if k == 0 else f"axis{a}").tile_param
        p.axis, p.tiles = a, reps[a]
        cur = top


_REDUCTION = {"ReduceSum": 1, "ReduceL1": 2, "ReduceSumSquare": 3, "ReduceMean": 4}


@register(*_REDUCTION)
def export_reduce(ctx, node):
    """Caffe's Reduction reduces every axis from `axis` to the end, without keepdims."""
    x = ctx.activation(node.inputs[0])
    rank = len(ctx.shape(x))
    axes = sorted(int(a) % rank for a in (attr(node, "axes") or range(rank)))
    if axes != list(range(axes[0], rank)) or attr(node, "keepdims"):
        raise bad("axes/keepdims", (axes, attr(node, "keepdims")),
                  "Caffe reduces all trailing axes from one axis, dropping them")
    p = ctx.add("Reduction", [x], [node.outputs[0]]).reduction_param
    p.operation = _REDUCTION[node.op]
    if axes[0]:
        p.axis = axes[0]


@register("CaffeArgMax")
def export_caffe_argmax(ctx, node):
    p = ctx.add("ArgMax", [ctx.activation(node.inputs[0])], [node.outputs[0]]).argmax_param
    if attr(node, "axis") is not None:
        p.axis = int(attr(node, "axis"))
    if int(attr(node, "top_k")) != 1:
        p.top_k = int(attr(node, "top_k"))
    if attr(node, "out_max_val"):
        p.out_max_val = True


def _embed(node, ctx, gather) -> None:
    """Cast(float -> int) feeding Gather(constant table, axis 0): Caffe's Embed (which
    truncates its float indices as Cast does), with a following bias Add absorbed."""
    table = ctx.const(gather.inputs[0])
    if table is None or table.ndim != 2 or int(attr(gather, "axis")) != 0 or gather.inputs[1] != node.outputs[0]:
        raise bad("to", attr(node, "to"), "Caffe has no cast; only float indices feeding an embedding table")
    y, blobs = gather.outputs[0], [table]
    nxt = ctx.sole_consumer(y)
    if nxt is not None and nxt.op == "Add" and nxt.inputs[0] == y:
        b = ctx.const(nxt.inputs[1])
        if b is not None and b.size == table.shape[1] and ctx.shape(nxt.outputs[0]) == ctx.shape(y):
            blobs.append(b.reshape(-1))
            ctx.done.add(nxt.name)
            y = nxt.outputs[0]
    ctx.done.add(gather.name)
    p = ctx.add("Embed", [ctx.activation(node.inputs[0])], [y], blobs=blobs).embed_param
    p.input_dim, p.num_output = table.shape
    if len(blobs) == 1:
        p.bias_term = False


@register("Cast")
def export_cast(ctx, node):
    """Caffe blobs are float: a cast to float32 of a float value is a copy; a cast to
    integers is expressible only as the index input of an Embed."""
    x = ctx.activation(node.inputs[0])
    src = ctx.graph.value_info(x)
    to = attr(node, "to")
    if to == "float32" and (src is None or src.dtype == "float32"):
        ctx.add("Split", [x], [node.outputs[0]])
        return
    nxt = ctx.sole_consumer(node.outputs[0])
    if to in ("int64", "int32") and nxt is not None and nxt.op == "Gather":
        _embed(node, ctx, nxt)
        return
    raise bad("to", to, "Caffe blobs are float32; no cast layer")


@register("Greater")
def export_greater(ctx, node):
    """x > t followed by a cast to float32: Caffe's Threshold (1 where x > t, else 0)."""
    t = ctx.const(node.inputs[1])
    nxt = ctx.sole_consumer(node.outputs[0])
    if t is None or t.size != 1 or nxt is None or nxt.op != "Cast" or attr(nxt, "to") != "float32":
        raise bad("inputs", node.inputs, "only x > constant cast to float (Caffe's Threshold)")
    ctx.done.add(nxt.name)
    lp = ctx.add("Threshold", [ctx.activation(node.inputs[0])], [nxt.outputs[0]])
    lp.threshold_param.threshold = float(t.reshape(-1)[0])
