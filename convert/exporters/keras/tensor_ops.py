"""Transformer-era tensor ops as ``keras.ops`` calls on symbolic tensors: a functional model
records each as an operation node that ``keras.saving.load_model`` rebuilds from its name
and arguments (no Python code is stored, unlike Lambda). Operands are taken in IR order."""
from __future__ import annotations

import numpy as np

from .. import channels_last as L
from .context import KerasContext, attr, unsupported_attr
from .registry import register

# IR op -> keras.ops function, for ops whose ONNX and numpy semantics agree (broadcasting).
_ELEMENTWISE = {
    "Equal": "equal", "Greater": "greater", "Less": "less", "And": "logical_and", "Or": "logical_or", "Xor": "logical_xor",
    "Not": "logical_not", "Erf": "erf", "Sin": "sin", "Cos": "cos", "Neg": "negative", "Sqrt": "sqrt",
    "Reciprocal": "reciprocal", "Abs": "absolute", "Log": "log", "Floor": "floor", "Ceil": "ceil",
    "Pow": "power", "Where": "where",
}


def operand(ctx: KerasContext, value: str):
    """A value as a Keras tensor in IR order, or a stored weight as a numpy array."""
    w = ctx.weight(value)
    if w is not None:
        return np.asarray(w)
    return ctx.get(value)


def _put(ctx: KerasContext, node, y) -> None:
    ctx.put(node.outputs[0], y, L.identity(len(y.shape)))


@register(*_ELEMENTWISE)
def export_elementwise(ctx: KerasContext, node):
    args = [operand(ctx, v) for v in node.inputs]
    if all(isinstance(a, np.ndarray) for a in args):
        raise unsupported_attr("inputs", node.inputs, "at least one computed tensor")
    _put(ctx, node, getattr(ctx.keras.ops, _ELEMENTWISE[node.op])(*args))


@register("Cast")
def export_cast(ctx: KerasContext, node):
    t, have = ctx.raw(node.inputs[0])
    ctx.put(node.outputs[0], ctx.keras.ops.cast(t, str(attr(node, "to"))), have)


_REDUCE = {"ReduceSum": "sum", "ReduceMin": "min", "ReduceProd": "prod", "ReduceMean": "mean", "ReduceMax": "max"}


@register("ReduceSum", "ReduceMin", "ReduceProd")
def export_reduce(ctx: KerasContext, node):
    """A reduction over explicit axes as a ``keras.ops`` call (ReduceMean/ReduceMax over
    the spatial axes are global pooling layers instead)."""
    fn = _REDUCE[node.op]
    axes = attr(node, "axes")
    if not axes:
        raise unsupported_attr("axes", axes, "explicit axes")
    y = getattr(ctx.keras.ops, fn)(ctx.get(node.inputs[0]), axis=tuple(int(a) for a in axes),
                                   keepdims=bool(attr(node, "keepdims")))
    _put(ctx, node, y)


@register("Gather")
def export_gather(ctx: KerasContext, node):
    axis = int(attr(node, "axis"))
    table = ctx.weight(node.inputs[0])
    idx = operand(ctx, node.inputs[1])
    if table is not None and table.ndim == 2 and axis == 0 and not isinstance(idx, np.ndarray):
        # A lookup in a stored table: the Embedding layer (weights stored as weights).
        layer = ctx.layers.Embedding(int(table.shape[0]), int(table.shape[1]), name=ctx.name(node))
        _put(ctx, node, ctx.call(layer, idx, [table]))
        return
    _put(ctx, node, ctx.keras.ops.take(operand(ctx, node.inputs[0]), idx, axis=axis))


@register("CumSum")
def export_cumsum(ctx: KerasContext, node):
    if attr(node, "exclusive") or attr(node, "reverse"):
        raise unsupported_attr("exclusive/reverse", [attr(node, "exclusive"), attr(node, "reverse")],
                               "an inclusive forward sum")
    _put(ctx, node, ctx.keras.ops.cumsum(ctx.get(node.inputs[0]), axis=int(attr(node, "axis"))))


@register("Einsum")
def export_einsum(ctx: KerasContext, node):
    _put(ctx, node, ctx.keras.ops.einsum(_lower_case(str(attr(node, "equation"))), *[operand(ctx, v) for v in node.inputs]))


def _lower_case(equation: str) -> str:
    """The equation with its subscripts renamed to lower-case letters (Keras' symbolic shape
    inference reads upper-case ones as sizes, as maxvit's ``BGHID,BGHJD->BGHIJ``)."""
    letters = dict.fromkeys(c for c in equation if c.isalpha())
    if all(c.islower() for c in letters):
        return equation
    free = iter(c for c in "abcdefghijklmnopqrstuvwxyz" if c not in letters)
    rename = {c: c if c.islower() else next(free) for c in letters}
    return "".join(rename.get(c, c) for c in equation)


@register("Trilu")
def export_trilu(ctx: KerasContext, node):
    fn = ctx.keras.ops.triu if attr(node, "upper") else ctx.keras.ops.tril
    _put(ctx, node, fn(ctx.get(node.inputs[0]), k=int(attr(node, "k"))))


@register("Expand")
def export_expand(ctx: KerasContext, node):
    if len(node.inputs) > 1 and node.inputs[1]:
        _expand_at_run_time(ctx, node)
        return
    shape = [int(d) for d in attr(node, "shape")]
    x = ctx.get(node.inputs[0])
    src = (1,) * (len(shape) - len(x.shape)) + tuple(x.shape)
    # ONNX Expand broadcasts both ways: a 1 in the shape keeps the input's size.
    target = [s if d == 1 else d for s, d in zip(src, shape)]
    if src[0] is None and target[0] is not None or len(shape) < len(x.shape):
        raise unsupported_attr("shape", shape, "the batch axis kept")
    ones = np.ones([1] + [1 if d is None else d for d in target[1:]], dtype=str(x.dtype))
    _put(ctx, node, ctx.keras.ops.logical_and(x, ones) if str(x.dtype) == "bool" else ctx.keras.ops.multiply(x, ones))


def _expand_at_run_time(ctx: KerasContext, node) -> None:
    """x times ones of the shape read from values: ONNX's two-way broadcast, as numpy's.
    Keras 3 records no operation that takes a size from a tensor (``broadcast_to``,
    ``ones``, ``tile`` and ``reshape`` keep theirs in the saved config), but bincount's
    output length follows the values: the counts of the single value n-1 are n long, and
    of no value (n = 0, dropped by ``nonzero``) empty. Their ``ones_like`` per entry,
    multiplied as an outer product, is the ones tensor."""
    ops = ctx.keras.ops
    length = (ctx.ir_shapes().get(node.inputs[1]) or (None,))[0]
    if not isinstance(length, int):
        raise unsupported_attr("shape", node.inputs[1], "read at run time with an open length (the output's rank)")
    x, s = ctx.get(node.inputs[0]), ctx.get(node.inputs[1])
    dtype = "float32" if str(x.dtype) == "bool" else str(x.dtype)

    def op(t):
        ctx.put("", t)  # names the operation uniquely in the model
        return t

    ones = None
    for i in range(length):
        entry = op(ops.take(s, [i]))
        entry = op(ops.take(entry, op(ops.nonzero(entry))[0]))
        axis = op(ops.ones_like(op(ops.bincount(op(ops.subtract(entry, 1)))), dtype=dtype))
        axis = op(ops.reshape(axis, [-1 if j == i else 1 for j in range(length)]))
        ones = axis if ones is None else op(ops.multiply(ones, axis))
    ones = np.ones((), dtype) if ones is None else ones  # (an empty shape: the input as it is)
    y = ops.logical_and(x, ops.cast(ones, "bool")) if str(x.dtype) == "bool" else ops.multiply(x, ones)
    _put(ctx, node, y)


@register("ArgMax")
def export_argmax(ctx: KerasContext, node):
    if attr(node, "select_last_index"):
        raise unsupported_attr("select_last_index", 1)
    axis = int(attr(node, "axis"))
    y = ctx.keras.ops.argmax(ctx.get(node.inputs[0]), axis=axis, keepdims=bool(attr(node, "keepdims")))
    _put(ctx, node, ctx.keras.ops.cast(y, "int64"))


@register("TopK")
def export_topk(ctx: KerasContext, node):
    # top_k keeps the k largest of the last axis, sorted, lower index first among equals (as
    # ONNX asks; sorted=0 leaves the order open, so sorted output serves it too): another axis
    # is moved last and back, and the k smallest are the k largest of -x, negated back.
    ops = ctx.keras.ops
    x = ctx.get(node.inputs[0])
    rank = len(x.shape)
    axis = int(attr(node, "axis")) % rank
    largest = bool(attr(node, "largest"))
    if not largest and not str(x.dtype).startswith("float"):
        raise unsupported_attr("largest", 0, "the k smallest of a float tensor")
    y = x if axis == rank - 1 else ops.moveaxis(x, axis, -1)
    values, indices = ops.top_k(y if largest else ops.negative(y), int(attr(node, "k")), sorted=True)
    values = values if largest else ops.negative(values)
    if axis != rank - 1:
        values, indices = ops.moveaxis(values, -1, axis), ops.moveaxis(indices, -1, axis)
    ctx.put(node.outputs[0], values, L.identity(rank))
    if len(node.outputs) > 1 and node.outputs[1]:
        ctx.put(node.outputs[1], ops.cast(indices, "int64"), L.identity(rank))


_BIG = 2**31 - 1  # ONNX's INT64 "to the end" bounds, as Python slice bounds


@register("Slice")
def export_slice(ctx: KerasContext, node):
    """Strided slicing in the value's own layout, as Keras' ``GetItem`` operation (a
    ``.keras`` file records the slice objects; no Lambda)."""
    t, have = ctx.raw(node.inputs[0])
    rank = len(have)
    starts, ends = list(attr(node, "starts")), list(attr(node, "ends"))
    axes = attr(node, "axes") or range(len(starts))
    steps = attr(node, "steps") or [1] * len(starts)
    key = [slice(None)] * rank
    for s, e, a, st in zip(starts, ends, axes, steps):
        start = int(np.clip(s, -_BIG, _BIG))
        key[L.keras_axis(have, int(a))] = slice(start, None if abs(int(e)) >= _BIG else int(e), int(st))
    ctx.put(node.outputs[0], t[tuple(key)], have)


@register("Split")
def export_split(ctx: KerasContext, node):
    """``keras.ops.split`` along the value's stored axis; every part keeps its layout."""
    t, have = ctx.raw(node.inputs[0])
    if not all(node.outputs):
        raise unsupported_attr("outputs", node.outputs, "every part of a split named")
    axis = L.keras_axis(have, int(attr(node, "axis")))
    if axis == 0:  # Keras' first axis is the batch, of no known size while the model is built
        raise unsupported_attr("axis", attr(node, "axis"), "a split of an axis other than Keras' batch axis")
    sizes = attr(node, "split")
    parts = ctx.keras.ops.split(t, len(node.outputs) if sizes is None else [int(i) for i in np.cumsum(sizes)[:-1]],
                                axis=axis)
    for out, part in zip(node.outputs, parts):
        ctx.put(out, part, have)


@register("TensorScatter")
def export_tensor_scatter(ctx: KerasContext, node):
    """Each cache position j along axis reads update[j - write_indices[b]] (modulo the cache
    length when circular) where that falls inside the update, else keeps the cache: a
    gather and a select, so values are copied exactly on every backend."""
    ops = ctx.keras.ops
    past, update = ctx.get(node.inputs[0]), ctx.get(node.inputs[1])
    rank = len(past.shape)
    axis = attr(node, "axis") % rank
    length, steps = past.shape[axis], update.shape[axis]
    if not isinstance(length, int) or not isinstance(steps, int):
        raise unsupported_attr("axis", attr(node, "axis"), "static cache and update lengths along the axis")
    rel = np.arange(length, dtype="int32").reshape([-1 if d == axis else 1 for d in range(rank)])
    if len(node.inputs) > 2 and node.inputs[2]:
        start = ops.reshape(ops.cast(ctx.get(node.inputs[2]), "int32"), (-1,) + (1,) * (rank - 1))
        rel = ops.subtract(rel, start)
    if attr(node, "mode") == "circular":
        rel = ops.mod(rel, length)
    inside = ops.logical_and(ops.greater_equal(rel, 0), ops.less(rel, steps))
    # broadcast the positions over the cache's other axes (the batch may be open)
    index = ops.add(ops.clip(rel, 0, steps - 1), ops.zeros_like(past, dtype="int32"))
    _put(ctx, node, ops.where(inside, ops.take_along_axis(update, index, axis=axis), past))


@register("OneHot")
def export_onehot(ctx: KerasContext, node):
    """keras.ops.one_hot gives a row of zeros for a negative index on every backend (and
    for one past depth on TensorFlow and JAX, an error on torch): negative indices are
    shifted by depth first, and any index still outside [0, depth) becomes -1."""
    ops = ctx.keras.ops
    depth, (off, on) = int(attr(node, "depth")), attr(node, "values")
    dtype = str(attr(node, "dtype"))
    i = ops.cast(ctx.get(node.inputs[0]), "int64")
    pos = ops.where(ops.less(i, 0), ops.add(i, depth), i)
    pos = ops.where(ops.greater_equal(pos, depth), -1, pos)
    rank = len(i.shape)
    axis = int(attr(node, "axis")) % (rank + 1)  # Keras takes -1 for the last axis, never rank
    hot = ops.one_hot(pos, depth, axis=-1 if axis == rank else axis, dtype="bool")
    y = ops.where(hot, np.asarray(on, dtype=dtype), np.asarray(off, dtype=dtype))
    # where() of two int64 constants runs as int32 in a loaded .keras: the cast keeps the type
    _put(ctx, node, ops.cast(y, dtype))
