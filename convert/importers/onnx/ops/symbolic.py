"""Shape arithmetic on shapes that hold dynamic dimensions (``Shape -> Gather ->
Unsqueeze -> Concat -> Reshape`` as torch.onnx and tf2onnx write it). A dynamic dim is
its symbolic name; arithmetic on one gives a new name, which only Reshape (as -1) can use."""
from __future__ import annotations

from typing import Callable

import numpy as np

SYMBOLIC: dict[str, Callable] = {}


def _sym(*ops):
    def deco(fn):
        for op in ops:
            SYMBOLIC[op] = fn
        return fn
    return deco


@_sym("Identity", "Cast")
def _identity(ctx, node, v):
    return v[0]


@_sym("Gather")
def _gather(ctx, node, v):
    if ctx.attr("axis", 0) != 0 or v[0].ndim != 1:
        return None
    return v[0][np.asarray(v[1], dtype=np.int64)]


@_sym("Concat")
def _concat(ctx, node, v):
    return np.concatenate([np.asarray(x, dtype=object).reshape(-1) for x in v])


@_sym("Unsqueeze", "Squeeze")
def _reshape_1d(ctx, node, v):
    x = v[0]
    if node.op_type == "Unsqueeze":
        return x.reshape(-1) if x.ndim == 0 else None
    return x.reshape(()) if x.size == 1 else None


@_sym("Reshape")
def _reshape(ctx, node, v):
    return v[0].reshape(-1) if v[1].size == 1 and int(v[1].reshape(-1)[0]) in (-1, v[0].size) else None


@_sym("Slice")
def _slice(ctx, node, v):
    if v[0].ndim != 1 or len(v) < 3:
        return None
    step = int(v[4][0]) if len(v) > 4 else 1
    return v[0][int(v[1][0]):int(v[2][0]) if abs(int(v[2][0])) < 2**62 else None:step]


def _combine(a, b, sign: str):
    if isinstance(a, str) or isinstance(b, str):
        return f"({a}{sign}{b})"
    return {"*": a * b, "+": a + b, "-": a - b, "/": a // b if b else a}[sign]


@_sym("Mul", "Add", "Sub", "Div")
def _arith(ctx, node, v):
    sign = {"Mul": "*", "Add": "+", "Sub": "-", "Div": "/"}[node.op_type]
    a, b = np.broadcast_arrays(np.asarray(v[0], dtype=object), np.asarray(v[1], dtype=object))
    return np.array([_combine(x, y, sign) for x, y in zip(a.reshape(-1), b.reshape(-1))],
                    dtype=object).reshape(a.shape)


def evaluate(ctx, node) -> bool:
    """Evaluate ``node`` on symbolic shapes when it is shape arithmetic; False otherwise."""
    fn = SYMBOLIC.get(node.op_type)
    ins = [i for i in node.input if i]
    if fn is None or not any(i in ctx.symbolic for i in ins) or not all(
            i in ctx.symbolic or i in ctx.consts for i in ins):
        return False
    vals = [ctx.symbolic[i] if i in ctx.symbolic else np.asarray(ctx.consts[i]).astype(object) for i in ins]
    ctx.begin(node)
    try:
        out = fn(ctx, node, vals)
    except (IndexError, ValueError, TypeError):
        out = None
    if out is None:
        return False
    out = np.asarray(out, dtype=object)
    ctx.set_dims(0, out.reshape(-1)) if out.ndim == 1 else _set_scalar(ctx, out)
    return True


def _set_scalar(ctx, out):
    v = out.reshape(()).item()
    if isinstance(v, str):
        ctx.symbolic[ctx.node.output[0]] = np.array(v, dtype=object)
    else:
        ctx.set_const(0, np.array(v, dtype=np.int64))


# Ops that keep a constant fill a constant fill (of another run-time shape).
_FILL_KEEPS = {"Slice", "Squeeze", "Unsqueeze", "Reshape", "Transpose", "Identity", "Expand", "Cast", "Gather"}


def propagate_fill(ctx, node) -> bool:
    """A data movement of a ConstantOfShape fill is the same fill; False for anything else."""
    if node.op_type not in _FILL_KEEPS or not node.input or node.input[0] not in ctx.fills:
        return False
    ctx.fills[node.output[0]] = ctx.fills[node.input[0]]
    return True
