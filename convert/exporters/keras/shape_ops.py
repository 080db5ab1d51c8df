"""Shape ops: most are free (a new layout) or one Reshape/Concatenate/ZeroPadding/UpSampling."""
from __future__ import annotations

import numpy as np

from .. import channels_last as L
from .context import KerasContext, attr, unsupported_attr
from . import tensor_ops
from .registry import register

_ND = {1: "1D", 2: "2D", 3: "3D"}


@register("Transpose")
def export_transpose(ctx: KerasContext, node):
    t, have = ctx.raw(node.inputs[0])
    ctx.put(node.outputs[0], t, L.after_transpose(have, tuple(attr(node, "perm"))))  # no data moves


@register("Concat")
def export_concat(ctx: KerasContext, node):
    have = ctx.perm(node.inputs[0])
    axis = L.keras_axis(have, attr(node, "axis"))
    if axis == 0:
        raise unsupported_attr("axis", attr(node, "axis"), "Keras cannot concatenate along the batch")
    xs = [ctx.get(i, have) for i in node.inputs]
    if len(xs) == 1:
        ctx.put(node.outputs[0], xs[0], have)
        return
    ctx.put(node.outputs[0], ctx.layers.Concatenate(axis=axis, name=ctx.name(node))(xs), have)


def _reshape(node, ctx: KerasContext, target: list) -> None:
    """Reshape to the IR shape ``target`` (0 = copy, -1 = infer). A layout that only reorders
    leading axes the reshape keeps survives; anything else is laid out in IR order first."""
    t, have = ctx.raw(node.inputs[0])
    src = ctx.ir_shape(node.inputs[0])
    if _moves_batch(src, target):
        _reshape_with_batch(node, ctx, src, target)
        return
    keep = 1  # leading axes the reshape keeps unchanged
    while keep < min(len(src), len(target)) and (target[keep] == 0 or (src[keep] is not None
                                                                       and src[keep] == target[keep])):
        keep += 1
    tail = [src[i] if d == 0 else d for i, d in enumerate(target)][keep:]
    if -1 in tail and None not in src[keep:]:  # resolve -1 from the static sizes
        known = int(np.prod([d for d in tail if d != -1]))
        tail = [int(np.prod(src[keep:])) // known if d == -1 else d for d in tail]
    if not (all(have[i] == i for i in range(keep, len(have))) and all(have[i] < keep for i in range(keep))):
        t, have = ctx.get(node.inputs[0]), L.identity(len(have))
    if t.shape[0] is not None and None in t.shape[1:]:
        # the dynamic axis is not the Keras tensor's first (vit_b_16's sequence-first (S, B, E)
        # attention): no batch-first tensor for a Reshape layer
        _reshape_with_batch(node, ctx, src, target)
        return
    new_perm = tuple(have[:keep]) + tuple(range(keep, len(target)))
    keras_shape = [t.shape[i] for i in range(1, keep)] + tail
    keras_shape = [-1 if d is None else int(d) for d in keras_shape]
    if keras_shape.count(-1) > 1:
        raise unsupported_attr("shape", target, "more than one unknown dimension")
    want = [None if d == -1 else d for d in keras_shape]
    if list(t.shape[1:]) == want:
        ctx.put(node.outputs[0], t, new_perm)
        return
    made_by = getattr(t, "_keras_history", None)
    if made_by is not None and isinstance(made_by[0], ctx.layers.Reshape):
        before = made_by[0].input  # Reshape after Reshape: go back to the earlier tensor when it fits
        if list(before.shape[1:]) == want:
            ctx.put(node.outputs[0], before, new_perm)
            return
    ctx.put(node.outputs[0], ctx.layers.Reshape(tuple(keras_shape), name=ctx.name(node))(t), new_perm)


def _moves_batch(src: tuple, target: list) -> bool:
    """Whether a reshape folds the batch axis into others or splits it (swin_t's window
    partition (B, 3, 3, 7, 7, C) -> (B*9, 49, C)), which Keras' Reshape layer cannot."""
    if target[0] == 0 or (src[0] is not None and target[0] == src[0]):
        return False
    if target[0] != -1:
        return True
    if None in src[1:] or not all(isinstance(d, int) and d > 0 for d in target[1:]):
        return False
    return int(np.prod(src[1:])) != int(np.prod(target[1:]))


def _reshape_with_batch(node, ctx: KerasContext, src: tuple, target: list) -> None:
    """``keras.ops.reshape`` of the whole shape, batch included, in IR order."""
    full = [(-1 if src[i] is None else src[i]) if d == 0 else int(d) for i, d in enumerate(target)]
    if full.count(-1) > 1:
        raise unsupported_attr("shape", target, "one unknown size when the batch axis is reshaped")
    y = ctx.keras.ops.reshape(ctx.get(node.inputs[0]), tuple(full))
    ctx.put(node.outputs[0], y, L.identity(len(full)))


@register("Reshape")
def export_reshape(ctx: KerasContext, node):
    if len(node.inputs) > 1 and node.inputs[1]:
        raise unsupported_attr("like", node.inputs[1], "sizes known when the model is built (Keras Reshape)")
    shape = list(attr(node, "shape"))
    src = ctx.ir_shape(node.inputs[0])
    rest = int(np.prod(src[1:])) if len(src) > 2 and None not in src[1:] else None
    if len(shape) == 2 and rest is not None and (shape[0] in (0, -1, src[0]) and shape[1] in (-1, rest)):
        from .layers import flatten_into_dense

        if flatten_into_dense(node, ctx):
            return
    _reshape(node, ctx, list(attr(node, "shape")))


def _squeeze_in_place(node, ctx: KerasContext, axes: list) -> bool:
    """Squeeze a tensor kept in another layout (e.g. a recurrent layer's batch-major Y)
    without moving it back: drop the size-1 Keras axes and keep the rest's layout."""
    t, have = ctx.raw(node.inputs[0])
    if tuple(have) == L.identity(len(have)):
        return False
    drop = {k for k, ir in enumerate(have) if ir in axes}
    kshape = tuple(t.shape)
    keep = [k for k in range(len(have)) if k not in drop]
    if 0 in drop or any(kshape[k] is None for k in keep[1:]):
        return False
    order = sorted(have[k] for k in keep)
    y = ctx.layers.Reshape(tuple(kshape[k] for k in keep[1:]), name=ctx.name(node))(t)
    ctx.put(node.outputs[0], y, tuple(order.index(have[k]) for k in keep))
    return True


def _squeeze_open_axis(node, ctx: KerasContext, t, src: list, axes: list):
    """Drop an axis that is 1 in the IR but open to Keras (a time-major recurrence sliced
    one step at a time on what Keras takes for its batch axis): keras.ops.squeeze checks
    for a known 1, so reshape to the remaining sizes instead."""
    rest = [t.shape[i] if t.shape[i] is not None else src[i] for i in range(len(src)) if i not in axes]
    if sum(d is None for d in rest) > 1:
        raise unsupported_attr("axes", axes, "a squeeze leaving at most one size unknown to Keras")
    return ctx.keras.ops.reshape(t, tuple(-1 if d is None else int(d) for d in rest))


@register("Squeeze", "Unsqueeze")
def export_squeeze(ctx: KerasContext, node):
    src = list(ctx.ir_shape(node.inputs[0]))
    axes = attr(node, "axes")
    if node.op == "Squeeze":
        axes = [i for i, d in enumerate(src) if d == 1] if axes is None else [a % len(src) for a in axes]
        if _squeeze_in_place(node, ctx, axes):
            return
        target = [0 if i == 0 else (d if d is not None else -1) for i, d in enumerate(src) if i not in axes]
    else:
        n = len(src) + len(axes)
        axes = sorted(a % n for a in axes)
        it = iter(src)
        target = [1 if i in axes else next(it) for i in range(n)]
        target = [0 if i == 0 else (-1 if d is None else d) for i, d in enumerate(target)]
    if 0 in axes or target.count(-1) > 1:
        # the batch axis (vit_b_16's attention adds one in front) or several unknown sizes
        # (a sequence mask): keras.ops adds or drops the axes, which a Reshape layer cannot
        t = ctx.get(node.inputs[0])
        if node.op == "Unsqueeze":
            t = ctx.keras.ops.expand_dims(t, axis=tuple(axes))
        elif all(t.shape[a] == 1 for a in axes):
            t = ctx.keras.ops.squeeze(t, axis=tuple(axes))
        else:
            t = _squeeze_open_axis(node, ctx, t, src, axes)
        ctx.put(node.outputs[0], t, L.identity(len(t.shape)))
        return
    _reshape(node, ctx, target)


@register("Pad")
def export_pad(ctx: KerasContext, node):
    pads, n = list(attr(node, "pads")), len(attr(node, "pads")) // 2
    if not any(pads):
        ctx.put(node.outputs[0], *ctx.raw(node.inputs[0]))
        return
    if attr(node, "mode") != "constant" or float(attr(node, "value")) != 0.0 or pads[0] or pads[1] or pads[n] \
            or pads[n + 1] or n - 2 not in _ND:
        _pad_any_axes(node, ctx, pads, n)
        return
    cl = L.channels_last(n)
    spec = tuple((int(b), int(e)) for b, e in zip(pads[2:n], pads[n + 2:]))
    layer = ctx.layers.__dict__[f"ZeroPadding{_ND[n - 2]}"](spec[0] if n == 3 else spec, name=ctx.name(node))
    ctx.put(node.outputs[0], layer(ctx.get(node.inputs[0], cl)), cl)


def _pad_any_axes(node, ctx: KerasContext, pads: list, n: int) -> None:
    """Padding other than zeros on the spatial axes of a channels-first map (swin_t pads the
    H and W of a (B, H, W, C) tensor) as ``keras.ops.pad`` in the value's own layout."""
    mode = attr(node, "mode")
    if mode not in ("constant", "reflect") or min(pads) < 0 or pads[0] or pads[n]:
        raise unsupported_attr("pads/mode", [pads, mode], "non-negative constant or reflect padding of non-batch axes")
    t, have = ctx.raw(node.inputs[0])
    width = [(int(pads[p]), int(pads[n + p])) for p in have]
    extra = {"constant_values": float(attr(node, "value"))} if mode == "constant" else {}
    ctx.put(node.outputs[0], ctx.keras.ops.pad(t, width, mode=mode, **extra), have)


@register("Resize")
def export_resize(ctx: KerasContext, node):
    mode, ctm, scales = attr(node, "mode"), attr(node, "coordinate_transformation_mode"), attr(node, "scales")
    rank = ctx.rank(node.inputs[0])
    if scales is None:
        src = ctx.ir_shape(node.inputs[0])
        sizes = attr(node, "sizes")
        if None in src[2:] or any(s % d for s, d in zip(sizes[2:], src[2:])):
            raise unsupported_attr("sizes", sizes, "integer upsampling factors")
        scales = [1.0, 1.0] + [s / d for s, d in zip(sizes[2:], src[2:])]
    ok = (mode == "nearest" and ctm == "asymmetric" and attr(node, "nearest_mode") == "floor") or (
        mode == "linear" and ctm in ("half_pixel", "pytorch_half_pixel") and rank == 4)
    if not ok or list(scales[:2]) != [1.0, 1.0] or any(float(s) != int(s) or s < 1 for s in scales[2:]) \
            or rank - 2 not in _ND:
        raise unsupported_attr("mode/scales", [mode, ctm, list(scales)], "UpSampling by integer factors")
    cl = L.channels_last(rank)
    size = tuple(int(s) for s in scales[2:])
    nd = _ND[rank - 2]
    if rank == 4:
        layer = ctx.layers.UpSampling2D(size, interpolation="nearest" if mode == "nearest" else "bilinear",
                                        name=ctx.name(node))
    else:
        layer = ctx.layers.__dict__[f"UpSampling{nd}"](size[0] if rank == 3 else size, name=ctx.name(node))
    ctx.put(node.outputs[0], layer(ctx.get(node.inputs[0], cl)), cl)


@register("ReduceMean", "ReduceMax")
def export_reduce(ctx: KerasContext, node):
    rank = ctx.rank(node.inputs[0])
    axes = sorted(a % rank for a in (attr(node, "axes") or range(rank)))
    if axes != list(range(2, rank)) or rank - 2 not in _ND:  # not a global pooling: keras.ops
        return tensor_ops.export_reduce(ctx, node)
    cl = L.channels_last(rank)
    kind = "GlobalAveragePooling" if node.op == "ReduceMean" else "GlobalMaxPooling"
    keep = bool(attr(node, "keepdims"))
    layer = ctx.layers.__dict__[f"{kind}{_ND[rank - 2]}"](keepdims=keep, name=ctx.name(node))
    ctx.put(node.outputs[0], layer(ctx.get(node.inputs[0], cl)), cl if keep else L.identity(2))
