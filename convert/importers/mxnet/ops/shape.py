"""Flatten, Concat, Reshape (MXNet's special codes), transpose, SliceChannel, Crop,
expand_dims, zeros."""
from __future__ import annotations

import math

import numpy as np

from ....errors import UnsupportedAttributeError
from ....limits import check_elements
from ..context import NodeContext, numel
from ..registry import register


@register("Flatten", "flatten", emits=("Flatten",))
def import_flatten(ctx: NodeContext, node):
    shp = ctx.shape(0)
    rest = numel(shp[1:])
    if rest is None:
        raise UnsupportedAttributeError("input shape", shp, "only the batch dimension may be symbolic")
    ctx.out("Flatten", [ctx.x(0)], (shp[0], rest), axis=1)


@register("Concat", "concat", emits=("Concat",))
def import_concat(ctx: NodeContext, node):
    shapes = [ctx.shape(i) for i in range(ctx.n_inputs)]
    rank = len(shapes[0])
    axis = ctx.int("dim", 1)
    if not -rank <= axis < rank:
        raise UnsupportedAttributeError("dim", axis, f"out of range for {rank} axes")
    axis %= rank
    if any(isinstance(s[axis], str) for s in shapes):
        raise UnsupportedAttributeError("dim", axis, "concatenation along the symbolic batch dimension")
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    ctx.out("Concat", [ctx.x(i) for i in range(ctx.n_inputs)], out, axis=axis)


def reshape_target(src: tuple, codes: list[int]) -> list:
    """MXNet's Reshape codes on ``src``: 0 copy, -1 infer, -2 copy the rest, -3 merge two,
    -4 split one into the next two (one of them may be -1)."""
    out: list = []
    i = 0
    k = 0
    infer_at = None
    while k < len(codes):
        c = codes[k]
        if c == 0:
            out.append(src[i]); i += 1
        elif c == -1:
            if infer_at is not None:
                raise UnsupportedAttributeError("shape", codes, "more than one -1")
            infer_at = len(out); out.append(-1); i += 1
        elif c == -2:
            out.extend(src[i:]); i = len(src)
        elif c == -3:
            a, b = src[i], src[i + 1]
            if isinstance(a, str) or isinstance(b, str):
                raise UnsupportedAttributeError("shape", codes, "-3 merges the symbolic batch dimension")
            out.append(a * b); i += 2
        elif c == -4:
            d1, d2 = codes[k + 1], codes[k + 2]
            whole = src[i]
            if isinstance(whole, str):
                raise UnsupportedAttributeError("shape", codes, "-4 splits the symbolic batch dimension")
            d1 = whole // d2 if d1 == -1 else d1
            d2 = whole // d1 if d2 == -1 else d2
            if d1 * d2 != whole:
                raise UnsupportedAttributeError("shape", codes, f"-4 cannot split {whole} into {d1} x {d2}")
            out += [d1, d2]; i += 1; k += 2
        elif c > 0:
            out.append(c); i += 1
        else:
            raise UnsupportedAttributeError("shape", codes, f"unknown code {c}")
        k += 1
    if infer_at is not None:
        known = [d for j, d in enumerate(out) if j != infer_at]
        total, rest = numel(src), numel(known)
        if total is None:  # the symbolic batch must stay where it was
            sym = [d for d in src if isinstance(d, str)]
            if sym != [d for d in known if isinstance(d, str)]:
                raise UnsupportedAttributeError("shape", codes, "cannot infer -1 across the symbolic batch")
            total = math.prod(d for d in src if not isinstance(d, str))
            rest = math.prod(d for d in known if not isinstance(d, str))
        if rest == 0 or total % rest:
            raise UnsupportedAttributeError("shape", codes, f"does not fit the input shape {src}")
        out[infer_at] = total // rest
    return out


@register("Reshape", "reshape", emits=("Reshape",))
def import_reshape(ctx: NodeContext, node):
    if ctx.bool("reverse", False):
        raise UnsupportedAttributeError("reverse", True, "codes applied right to left")
    src = ctx.shape(0)
    codes = ctx.ints("shape") or ctx.ints("target_shape")
    out = reshape_target(src, codes)
    if numel(out) is not None and numel(src) is not None and numel(out) != numel(src):
        raise UnsupportedAttributeError("shape", codes, f"{out} does not hold the {numel(src)} values of {src}")
    # The IR spells a copied symbolic dimension as 0 (ONNX Reshape), keeping the batch dynamic
    ir = [0 if isinstance(d, str) and j < len(src) and src[j] == d else d for j, d in enumerate(out)]
    if any(isinstance(d, str) for d in ir):
        raise UnsupportedAttributeError("shape", codes, "moves the symbolic batch dimension")
    ctx.out("Reshape", [ctx.x(0)], out, shape=ir)


@register("transpose", emits=("Transpose",))
def import_transpose(ctx: NodeContext, node):
    shp = ctx.shape(0)
    perm = ctx.ints("axes") or list(range(len(shp)))[::-1]
    if sorted(p % len(shp) for p in perm) != list(range(len(shp))):
        raise UnsupportedAttributeError("axes", perm, f"not a permutation of {len(shp)} axes")
    perm = [p % len(shp) for p in perm]
    ctx.out("Transpose", [ctx.x(0)], [shp[p] for p in perm], perm=perm)


@register("SwapAxis", "swapaxes", emits=("Transpose",))
def import_swap_axis(ctx: NodeContext, node):
    shp = ctx.shape(0)
    a, b = ctx.int("dim1", 0) % len(shp), ctx.int("dim2", 0) % len(shp)
    perm = list(range(len(shp)))
    perm[a], perm[b] = perm[b], perm[a]
    ctx.out("Transpose", [ctx.x(0)], [shp[p] for p in perm], perm=perm)


@register("SliceChannel", "split", emits=("Split", "Squeeze"))
def import_slice_channel(ctx: NodeContext, node):
    shp = ctx.shape(0)
    n = ctx.int("num_outputs")
    axis = ctx.int("axis", 1) % len(shp)
    if isinstance(shp[axis], str) or n <= 0 or shp[axis] % n:
        raise UnsupportedAttributeError("num_outputs", n, f"does not divide axis {axis} of {shp}")
    part = list(shp)
    part[axis] = shp[axis] // n
    if not ctx.bool("squeeze_axis", False):
        ctx.outs("Split", [ctx.x(0)], [part] * n, axis=axis, split=[part[axis]] * n)
        return
    if part[axis] != 1:
        raise UnsupportedAttributeError("squeeze_axis", True, "parts are wider than 1")
    parts = ctx.b.node("Split", [ctx.x(0)], dict(axis=axis, split=[1] * n), name=f"{ctx.name}/split", outputs=n)
    squeezed = [d for j, d in enumerate(part) if j != axis]
    for k, p in enumerate(parts):
        ctx.s.shapes[p] = tuple(part)
        ctx.out("Squeeze", [p], squeezed, index=k, axes=[axis])


@register("Crop", emits=("Slice",))
def import_crop(ctx: NodeContext, node):
    shp = ctx.shape(0)
    if len(shp) != 4:
        raise UnsupportedAttributeError("input rank", len(shp), "4-D input")
    if ctx.n_inputs == 2:
        h, w = ctx.shape(1)[2:]
    else:
        h, w = ctx.ints("h_w")
    if ctx.bool("center_crop", False):
        oy, ox = (shp[2] - h) // 2, (shp[3] - w) // 2
    else:
        oy, ox = (ctx.ints("offset") or [0, 0])
    if oy < 0 or ox < 0 or oy + h > shp[2] or ox + w > shp[3]:
        raise UnsupportedAttributeError("offset", (oy, ox), f"crop {h}x{w} does not fit {shp}")
    ctx.out("Slice", [ctx.x(0)], (shp[0], shp[1], h, w), starts=[oy, ox], ends=[oy + h, ox + w], axes=[2, 3])


@register("expand_dims", emits=("Unsqueeze",))
def import_expand_dims(ctx: NodeContext, node):
    shp = ctx.shape(0)
    axis = ctx.int("axis") % (len(shp) + 1)
    ctx.out("Unsqueeze", [ctx.x(0)], (*shp[:axis], 1, *shp[axis:]), axes=[axis])


@register("_zeros", "zeros", emits=())  # a weight, no op
def import_zeros(ctx: NodeContext, node):
    shape = ctx.ints("shape")
    if any(d == 0 for d in shape):
        # a batch-sized zero state (gluon's recurrent begin_state): only RNN consumes it
        ctx.s.zeros[(node.index, 0)] = tuple(shape)
        return
    check_elements(ctx.s.where, f"node {ctx.name!r} shape", shape)
    w = ctx.weight("zeros", np.zeros(shape, np.float32))
    ctx.set_out(0, w, tuple(shape))
