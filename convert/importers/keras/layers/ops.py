"""Keras 3 operation nodes: ``keras.ops`` functions applied to symbolic tensors (``x + 3.0``,
``ops.mean(x, axis=...)``), which a functional model records beside its layers.

Their positional arguments are tensors or constants (``call.operands``); numbers and
``__numpy__`` arrays become IR weights. Elementwise ops follow numpy broadcasting in Keras
(channels-last) order, so operands of different ranks meet in that order.
"""
from __future__ import annotations

import math

import numpy as np

from ....limits import MAX_TENSOR_ELEMENTS
from .. import layout as L
from ..context import Call, KerasContext, Ref, unsupported
from ..registry import register
from .pool import _rank_perm


def _constant(call: Call, v) -> np.ndarray:
    """A constant operand: a number, a nested list, or Keras' ``__numpy__`` record."""
    if isinstance(v, dict) and v.get("class_name") == "__numpy__":
        v = v.get("config", {}).get("value")
    if isinstance(v, bool) or v is None:
        raise unsupported("operand", v, "numeric tensors or constants")
    try:
        arr = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise unsupported("operand", str(v)[:40], "numeric tensors or constants") from None
    if arr.size > MAX_TENSOR_ELEMENTS:
        raise unsupported("operand", list(arr.shape), "constant too large")
    return arr.astype(np.float32)


def _broadcast(shapes: list[tuple]) -> tuple:
    rank = max(len(s) for s in shapes)
    out = []
    for dims in zip(*[(1,) * (rank - len(s)) + tuple(s) for s in shapes]):
        known = [d for d in dims if d not in (None, 1)]
        out.append(known[0] if known else (None if None in dims else 1))
    return tuple(out)


def _binary(ctx: KerasContext, call: Call, op: str) -> list[Ref]:
    """``op(a, b)`` with numpy broadcasting; a constant operand becomes a weight."""
    if len(call.operands) != 2:
        raise unsupported("operands", len(call.operands), "exactly two operands")
    refs = [v for v in call.operands if isinstance(v, Ref)]
    if not refs:
        raise unsupported("operands", call.operands, "at least one tensor")
    consts = {i: _constant(call, v) for i, v in enumerate(call.operands) if not isinstance(v, Ref)}
    if len({r.rank for r in refs}) == 1 and all(c.ndim == 0 for c in consts.values()):
        # Same-rank tensors and scalars meet in the layout the first tensor already has.
        perm = ctx.any(refs[0])[1]
    else:  # numpy broadcasting aligns trailing axes in Keras (channels-last) order
        perm = None
    names, shapes = [], []
    for i, v in enumerate(call.operands):
        if isinstance(v, Ref):
            names.append(ctx.get(v, perm if perm is not None else L.identity(v.rank)))
            shapes.append(v.shape)
        else:
            names.append(ctx.const(f"operand{i}", consts[i]))
            shapes.append(consts[i].shape)
    out = _broadcast(shapes)
    perm = perm if perm is not None else L.identity(len(out))
    return [ctx.ref(ctx.node(op, names)[0], out, perm)]


@register("ops.Add", emits=("Add",))
def import_op_add(ctx: KerasContext, node: Call) -> list[Ref]:
    return _binary(ctx, node, "Add")


@register("ops.Subtract", emits=("Sub",))
def import_op_subtract(ctx: KerasContext, node: Call) -> list[Ref]:
    return _binary(ctx, node, "Sub")


@register("ops.Multiply", emits=("Mul",))
def import_op_multiply(ctx: KerasContext, node: Call) -> list[Ref]:
    return _binary(ctx, node, "Mul")


@register("ops.Divide", "ops.TrueDivide", emits=("Div",))
def import_op_divide(ctx: KerasContext, node: Call) -> list[Ref]:
    return _binary(ctx, node, "Div")


@register("ops.Maximum", emits=("Max",))
def import_op_maximum(ctx: KerasContext, node: Call) -> list[Ref]:
    return _binary(ctx, node, "Max")


@register("ops.Minimum", emits=("Min",))
def import_op_minimum(ctx: KerasContext, node: Call) -> list[Ref]:
    return _binary(ctx, node, "Min")


@register("ops.Power", emits=("Pow",))
def import_op_power(ctx: KerasContext, node: Call) -> list[Ref]:
    return _binary(ctx, node, "Pow")


@register("ops.Matmul", emits=("MatMul",))
def import_op_matmul(ctx: KerasContext, node: Call) -> list[Ref]:
    if len(node.operands) != 2 or not any(isinstance(v, Ref) for v in node.operands):
        raise unsupported("operands", len(node.operands), "two operands, one of them a tensor")
    names, shapes = _typed_operands(ctx, node, "float32")
    a, b = shapes
    if len(a) < 2 or len(b) < 2:
        raise unsupported("operands", [list(a), list(b)], "rank >= 2 (vector products are not supported)")
    batch = _broadcast([a[:-2], b[:-2]]) if a[:-2] or b[:-2] else ()
    y = ctx.op("MatMul", *names)
    return [ctx.ref(y, (*batch, a[-2], b[-1]))]


def _unary(ctx: KerasContext, call: Call, op: str, **attrs) -> list[Ref]:
    r = _only_tensor(call)
    x, perm = ctx.any(r)
    return [ctx.ref(ctx.op(op, x, **attrs), r.shape, perm)]


def _only_tensor(call: Call) -> Ref:
    if not call.operands or not isinstance(call.operands[0], Ref):
        raise unsupported("operands", len(call.operands), "a tensor operand")
    return call.operands[0]


@register("ops.Negative", emits=("Neg",))
def import_op_negative(ctx: KerasContext, node: Call) -> list[Ref]:
    return _unary(ctx, node, "Neg")


@register("ops.Absolute", "ops.Abs", emits=("Abs",))
def import_op_abs(ctx: KerasContext, node: Call) -> list[Ref]:
    return _unary(ctx, node, "Abs")


@register("ops.Exp", emits=("Exp",))
def import_op_exp(ctx: KerasContext, node: Call) -> list[Ref]:
    return _unary(ctx, node, "Exp")


@register("ops.Log", emits=("Log",))
def import_op_log(ctx: KerasContext, node: Call) -> list[Ref]:
    return _unary(ctx, node, "Log")


@register("ops.Sqrt", emits=("Sqrt",))
def import_op_sqrt(ctx: KerasContext, node: Call) -> list[Ref]:
    return _unary(ctx, node, "Sqrt")


@register("ops.Sigmoid", emits=("Sigmoid",))
def import_op_sigmoid(ctx: KerasContext, node: Call) -> list[Ref]:
    return _unary(ctx, node, "Sigmoid")


@register("ops.Tanh", emits=("Tanh",))
def import_op_tanh(ctx: KerasContext, node: Call) -> list[Ref]:
    return _unary(ctx, node, "Tanh")


@register("ops.Relu", emits=("Relu",))
def import_op_relu(ctx: KerasContext, node: Call) -> list[Ref]:
    return _unary(ctx, node, "Relu")


@register("ops.Relu6", emits=("Clip",))
def import_op_relu6(ctx: KerasContext, node: Call) -> list[Ref]:
    return _unary(ctx, node, "Clip", min=0.0, max=6.0)


@register("ops.Reshape", emits=("Reshape",))
def import_op_reshape(ctx: KerasContext, node: Call) -> list[Ref]:
    """``ops.reshape(x, newshape)``: the new shape includes the batch axis."""
    r = _only_tensor(node)
    new = [int(d) for d in node.get("newshape")]
    if sum(d == -1 for d in new) > 1 or any(d == 0 or d < -1 for d in new):
        raise unsupported("newshape", new, "at most one -1 and no zero dims")
    known = None if any(d is None for d in r.shape) else int(math.prod(r.shape))
    shape = [None if d == -1 else d for d in new]
    if -1 in new and known is not None:
        shape[new.index(-1)] = known // int(math.prod(d for d in new if d != -1))
    y = ctx.op("Reshape", ctx.get(r, L.identity(r.rank)), shape=new)
    return [ctx.ref(y, tuple(shape))]


@register("ops.Transpose", emits=("Transpose",))
def import_op_transpose(ctx: KerasContext, node: Call) -> list[Ref]:
    r = _only_tensor(node)
    axes = node.get("axes")
    q = tuple(reversed(range(r.rank))) if axes is None else tuple(int(a) % r.rank for a in axes)
    x = ctx.get(r, L.identity(r.rank))
    return [ctx.ref(ctx.op("Transpose", x, perm=list(q)), L.apply(r.shape, q))]


def _axes(call: Call, rank: int) -> list[int]:
    axis = call.get("axis")
    if axis is None:
        return list(range(rank))
    return sorted({int(a) % rank for a in (axis if isinstance(axis, (list, tuple)) else [axis])})


def _reduce(ctx: KerasContext, call: Call, op: str) -> list[Ref]:
    r = _only_tensor(call)
    axes = _axes(call, r.rank)
    keep = bool(call.get("keepdims", False))
    x, perm = ctx.any(r)
    y = ctx.node(op, [x], {"axes": sorted(L.ir_axis(a, perm) for a in axes), "keepdims": int(keep)})[0]
    if keep:
        return [ctx.ref(y, tuple(1 if a in axes else d for a, d in enumerate(r.shape)), perm)]
    rest = [p for p in perm if p not in axes]
    return [ctx.ref(y, tuple(d for a, d in enumerate(r.shape) if a not in axes), _rank_perm(rest))]


@register("ops.Mean", emits=("ReduceMean",))
def import_op_mean(ctx: KerasContext, node: Call) -> list[Ref]:
    return _reduce(ctx, node, "ReduceMean")


@register("ops.Sum", emits=("ReduceSum",))
def import_op_sum(ctx: KerasContext, node: Call) -> list[Ref]:
    return _reduce(ctx, node, "ReduceSum")


@register("ops.Max", "ops.Amax", emits=("ReduceMax",))
def import_op_max(ctx: KerasContext, node: Call) -> list[Ref]:
    return _reduce(ctx, node, "ReduceMax")


@register("ops.Min", "ops.Amin", emits=("ReduceMin",))
def import_op_min(ctx: KerasContext, node: Call) -> list[Ref]:
    return _reduce(ctx, node, "ReduceMin")


@register("ops.ExpandDims", emits=("Unsqueeze",))
def import_op_expand_dims(ctx: KerasContext, node: Call) -> list[Ref]:
    r = _only_tensor(node)
    axis = int(node.get("axis")) % (r.rank + 1)
    y = ctx.op("Unsqueeze", ctx.get(r, L.identity(r.rank)), axes=[axis])
    return [ctx.ref(y, (*r.shape[:axis], 1, *r.shape[axis:]))]


@register("ops.Squeeze", emits=("Squeeze",))
def import_op_squeeze(ctx: KerasContext, node: Call) -> list[Ref]:
    r = _only_tensor(node)
    axis = node.get("axis")
    axes = [a for a, d in enumerate(r.shape) if d == 1] if axis is None else _axes(node, r.rank)
    if any(r.shape[a] != 1 for a in axes):
        raise unsupported("axis", axis, "axes of known size 1")
    y = ctx.op("Squeeze", ctx.get(r, L.identity(r.rank)), axes=axes)
    return [ctx.ref(y, tuple(d for a, d in enumerate(r.shape) if a not in axes))]


def _typed_operands(ctx: KerasContext, call: Call, dtype: str) -> tuple[list[str], list[tuple]]:
    """IR values and shapes of the operands, in Keras order; a constant becomes a weight of ``dtype``."""
    names, shapes = [], []
    for i, v in enumerate(call.operands):
        if isinstance(v, Ref):
            names.append(ctx.get(v, L.identity(v.rank)))
            shapes.append(v.shape)
        else:
            c = _constant(call, v)
            names.append(ctx.b.weight(f"{call.path}/operand{i}", c, dtype=dtype))
            shapes.append(c.shape)
    return names, shapes


# keras.ops comparison and logic -> (IR op, negated): a >= b is not (a < b)
_COMPARE = {"ops.Equal": ("Equal", False), "ops.NotEqual": ("Equal", True), "ops.Greater": ("Greater", False),
            "ops.Less": ("Less", False), "ops.GreaterEqual": ("Less", True), "ops.LessEqual": ("Greater", True),
            "ops.LogicalAnd": ("And", False), "ops.LogicalOr": ("Or", False)}


@register(*_COMPARE, emits={k: (op, "Not") if negate else (op,) for k, (op, negate) in _COMPARE.items()})
def import_op_compare(ctx: KerasContext, node: Call) -> list[Ref]:
    """A comparison or logic op (bool result); a constant operand takes the tensor's dtype."""
    op, negate = _COMPARE[node.cls]
    if len(node.operands) != 2:
        raise unsupported("operands", len(node.operands), "exactly two operands")
    refs = [v for v in node.operands if isinstance(v, Ref)]
    if not refs:
        raise unsupported("operands", node.operands, "at least one tensor")
    names, shapes = _typed_operands(ctx, node, refs[0].dtype)
    y = ctx.node(op, names, suffix="not" if negate else "")[0]
    if negate:
        y = ctx.op("Not", y)
    return [ctx.ref(y, _broadcast(shapes), dtype="bool")]


def _bool_reduce(ctx: KerasContext, call: Call, reduce: str) -> list[Ref]:
    """``ops.any`` / ``ops.all``: a max / min of the 0/1 values, back to bool."""
    r = _only_tensor(call)
    axes = _axes(call, r.rank)
    keep = bool(call.get("keepdims", False))
    x = ctx.get(r, L.identity(r.rank))
    x = ctx.op("Cast", x, suffix="as_float", to="float32")
    y = ctx.node(reduce, [x], {"axes": axes, "keepdims": int(keep)}, suffix="reduce")[0]
    shape = tuple(1 if a in axes else d for a, d in enumerate(r.shape) if keep or a not in axes)
    return [ctx.ref(ctx.op("Cast", y, to="bool"), shape, dtype="bool")]


@register("ops.Any", emits=("Cast", "ReduceMax"))
def import_op_any(ctx: KerasContext, node: Call) -> list[Ref]:
    return _bool_reduce(ctx, node, "ReduceMax")


@register("ops.All", emits=("Cast", "ReduceMin"))
def import_op_all(ctx: KerasContext, node: Call) -> list[Ref]:
    return _bool_reduce(ctx, node, "ReduceMin")


@register("ops.LogicalNot", emits=("Not",))
def import_op_logical_not(ctx: KerasContext, node: Call) -> list[Ref]:
    r = _only_tensor(node)
    return [ctx.ref(ctx.op("Not", ctx.get(r, L.identity(r.rank))), r.shape, dtype="bool")]


_DTYPES = ("float32", "int32", "int64", "bool")


@register("ops.Cast", emits=("Cast",))
def import_op_cast(ctx: KerasContext, node: Call) -> list[Ref]:
    r = _only_tensor(node)
    dtype = node.get("dtype")
    if dtype not in _DTYPES:
        raise unsupported("dtype", dtype, ", ".join(_DTYPES))
    x, perm = ctx.any(r)
    return [ctx.ref(ctx.op("Cast", x, to=dtype), r.shape, perm, dtype)]


@register("ops.Where", emits=("Where",))
def import_op_where(ctx: KerasContext, node: Call) -> list[Ref]:
    """``ops.where(condition, x, y)`` with numpy broadcasting; a constant branch takes the
    other branch's dtype."""
    if len(node.operands) != 3 or not isinstance(node.operands[0], Ref):
        raise unsupported("operands", len(node.operands), "a tensor condition and two branches")
    dtype = next((v.dtype for v in node.operands[1:] if isinstance(v, Ref)), "float32")
    names, shapes = _typed_operands(ctx, node, dtype)
    return [ctx.ref(ctx.node("Where", names)[0], _broadcast(shapes), dtype=dtype)]


_ONEHOT_DTYPES = ("float32", "float16", "bfloat16", "float64", "int64", "int32", "int16", "int8", "uint8", "bool")


@register("ops.OneHot", emits=("OneHot", "Cast", "Less", "Where"))
def import_op_one_hot(ctx: KerasContext, node: Call) -> list[Ref]:
    """``ops.one_hot(x, num_classes, axis)`` in Keras order. Keras gives a row of zeros for a
    negative index (the IR counts those from the end), so they are moved past depth first."""
    r = _only_tensor(node)
    depth, dtype = node.get("num_classes"), node.get("dtype") or "float32"
    if node.get("sparse"):
        raise unsupported("sparse", True, "a dense result")
    if not isinstance(depth, int) or isinstance(depth, bool) or not 1 <= depth <= MAX_TENSOR_ELEMENTS:
        raise unsupported("num_classes", depth, "a positive integer")
    if dtype not in _ONEHOT_DTYPES:
        raise unsupported("dtype", dtype, ", ".join(_ONEHOT_DTYPES))
    x = ctx.get(r, L.identity(r.rank))
    if r.dtype != "int64":
        x = ctx.op("Cast", x, suffix="indices", to="int64")
    zero = ctx.b.weight(f"{node.path}/zero", np.zeros((), np.int64))
    past = ctx.b.weight(f"{node.path}/depth", np.array(depth, np.int64))
    x = ctx.op("Where", ctx.op("Less", x, zero, suffix="negative"), past, x, suffix="indices_kept")
    axis = int(node.get("axis", -1))
    if not -(r.rank + 1) <= axis <= r.rank:
        raise unsupported("axis", axis, f"an axis of the rank-{r.rank + 1} result")
    y = ctx.op("OneHot", x, depth=depth, values=[0.0, 1.0], dtype=dtype, axis=axis)
    shape = list(r.shape)
    shape.insert(axis % (r.rank + 1), depth)
    return [ctx.ref(y, shape, dtype=dtype)]
