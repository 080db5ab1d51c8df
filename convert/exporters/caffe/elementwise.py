"""Add / Sub / Mul / Div / Max / Min / Sum / Mean.

Two activations of one shape -> Eltwise (SUM with coefficients, PROD, MAX). A constant
operand -> Power (scalar), Scale / Bias (a block of axes, with a following Add absorbed
into Scale's bias). An activation broadcast over a contiguous block of axes -> Scale /
Bias with two bottoms.
"""
from __future__ import annotations

import numpy as np

from ...errors import UnsupportedAttributeError
from .context import bad
from .registry import register

PROD, SUM, MAX = 0, 1, 2


def _eltwise(ctx, xs, y, operation: int, coeffs=None, suffix: str = "") -> None:
    lp = ctx.add("Eltwise", xs, [y], suffix=suffix)
    if operation != SUM:
        lp.eltwise_param.operation = operation
    if coeffs is not None:
        lp.eltwise_param.coeff.extend(coeffs)


def _block(c_shape: tuple, x_shape: tuple) -> tuple[int, int]:
    """[axis, end) of the non-1 axes of a shape broadcast against x (right-aligned)."""
    if len(c_shape) > len(x_shape):
        raise bad("shape", c_shape, f"broadcasts beyond the activation's shape {x_shape}")
    aligned = (1,) * (len(x_shape) - len(c_shape)) + tuple(c_shape)
    idx = [k for k, d in enumerate(aligned) if d != 1]
    for k, d in enumerate(aligned):
        if d not in (1, x_shape[k]):
            raise bad("shape", c_shape, f"does not broadcast to {x_shape}")
    return (idx[0], idx[-1] + 1) if idx else (0, 0)


def _param(c: np.ndarray, x_shape: tuple, a: int, e: int) -> np.ndarray:
    aligned = c.reshape((1,) * (len(x_shape) - c.ndim) + c.shape)
    return np.ascontiguousarray(np.broadcast_to(aligned, x_shape)[(0,) * a + (slice(None),) * (e - a)
                                                                 + (0,) * (len(x_shape) - e)], np.float32)


def _with_const(node, ctx, op: str, x: str, c: np.ndarray, y: str, suffix: str = "") -> None:
    """y = x (op) c for a constant c that broadcasts to x's shape."""
    xs = ctx.shape(x)
    if ctx.shape(y) != xs:
        raise bad("shape", c.shape, f"a constant that enlarges the activation {xs} to {ctx.shape(y)}")
    if op == "Sub":
        op, c = "Add", -c
    elif op == "Div":
        op, c = "Mul", (1.0 / c.astype(np.float64)).astype(np.float32)
    if op not in ("Add", "Mul"):
        raise bad("input", node.inputs[1], f"{op} with a constant has no Caffe layer")
    a, e = _block(c.shape, xs)
    if a == e:  # a scalar
        value = float(c.reshape(-1)[0])
        ctx.power(x, y, **({"shift": value} if op == "Add" else {"scale": value}), suffix=suffix)
        return
    param = _param(c, xs, a, e)
    if op == "Add":
        p = ctx.add("Bias", [x], [y], suffix=suffix, blobs=[param]).bias_param
    else:
        blobs = [param]
        nxt = ctx.sole_consumer(y) if not suffix else None
        if nxt is not None and nxt.op == "Add" and nxt.inputs[0] == y and ctx.const(nxt.inputs[1]) is not None:
            beta = ctx.const(nxt.inputs[1])
            try:
                ba, be = _block(beta.shape, xs)
            except UnsupportedAttributeError:
                ba, be = -1, -1
            if ba >= 0 and ctx.shape(nxt.outputs[0]) == xs and (ba == be or (a <= ba and be <= e)):
                blobs.append(_param(beta, xs, a, e))
                ctx.done.add(nxt.name)
                y = nxt.outputs[0]
        lp = ctx.add("Scale", [x], [y], suffix=suffix, blobs=blobs)
        p = lp.scale_param
        if len(blobs) == 2:
            p.bias_term = True
    if a != 1:
        p.axis = a
    if e - a != 1:
        p.num_axes = e - a


def _broadcast_pair(node, ctx, op: str, full: str, part: str, y: str) -> None:
    """y = full (op) part where ``part`` covers a block of full's axes: Scale/Bias with
    two bottoms, ``part`` reshaped to the block."""
    fs, ps = ctx.shape(full), ctx.shape(part)
    if ctx.shape(y) != fs:
        raise bad("shape", (fs, ps), "both operands broadcast; Caffe broadcasts only the second bottom")
    a, e = _block(ps, fs)
    if a == e:
        raise bad("shape", ps, "a computed scalar operand has no Caffe layer")
    aligned = (1,) * (len(fs) - len(ps)) + tuple(ps)
    if tuple(aligned[a:e]) != tuple(fs[a:e]):
        raise bad("shape", ps, f"repeats inside the broadcast block of {fs}; Caffe needs the block's full shape")
    block = list(fs[a:e])
    if list(ps) != block:
        r = ctx.tmp("operand")
        ctx.add("Reshape", [part], [r], suffix="operand").reshape_param.shape.dim.extend(block)
        part = r
    lp = ctx.add("Scale" if op == "Mul" else "Bias", [full, part], [y])
    p = lp.scale_param if op == "Mul" else lp.bias_param
    if a != 1:
        p.axis = a


def _binary(node, ctx, op: str) -> None:
    a, b = node.inputs[:2]
    y = node.outputs[0]
    ca, cb = ctx.const(a), ctx.const(b)
    if ca is not None and cb is not None:
        raise bad("inputs", [a, b], "both operands are constants (fold them first)")
    if ca is not None:
        if op in ("Add", "Mul"):
            _with_const(node, ctx, op, b, ca, y)
            return
        if op == "Sub":  # c - x = (-x) + c
            t = ctx.tmp("neg")
            ctx.power(b, t, scale=-1.0, suffix="neg")
            _with_const(node, ctx, "Add", t, ca, y)
            return
        if op == "Div":  # c / x = x^-1 * c
            t = ctx.tmp("reciprocal")
            ctx.power(b, t, power=-1.0, suffix="reciprocal")
            _with_const(node, ctx, "Mul", t, ca, y)
            return
        raise bad("input", a, f"{op} with a constant has no Caffe layer")
    if cb is not None:
        _with_const(node, ctx, op, a, cb, y)
        return
    sa, sb = ctx.shape(a), ctx.shape(b)
    if op == "Sub":
        if sa == sb:
            _eltwise(ctx, [a, b], y, SUM, [1.0, -1.0])
            return
        t = ctx.tmp("neg")
        ctx.power(b, t, scale=-1.0, suffix="neg")
        b, op = t, "Add"
    elif op == "Div":
        t = ctx.tmp("reciprocal")
        ctx.power(b, t, power=-1.0, suffix="reciprocal")
        b, op = t, "Mul"
        if sa == sb:
            _eltwise(ctx, [a, b], y, PROD)
            return
    if sa == sb:
        _eltwise(ctx, [a, b], y, {"Add": SUM, "Mul": PROD}[op])
        return
    if ctx.shape(y) == sa:
        _broadcast_pair(node, ctx, op, a, b, y)
    else:
        _broadcast_pair(node, ctx, op, b, a, y)


for _op in ("Add", "Sub", "Mul", "Div"):
    def _make(op: str):
        def export_binary(ctx, node):
            _binary(node, ctx, op)
        export_binary.__name__ = f"export_{op.lower()}"
        return export_binary

    register(_op)(_make(_op))


def _same_shapes(node, ctx) -> list[str]:
    xs = [ctx.activation(i) for i in node.inputs]
    shapes = {ctx.shape(x) for x in xs}
    if len(shapes) != 1:
        raise bad("shapes", sorted(shapes), "Eltwise needs inputs of one shape (no broadcasting)")
    return xs


@register("Sum")
def export_sum(ctx, node):
    xs = _same_shapes(node, ctx)
    if len(xs) == 1:
        ctx.add("Split", xs, [node.outputs[0]])
    else:
        _eltwise(ctx, xs, node.outputs[0], SUM)


@register("Mean")
def export_mean(ctx, node):
    xs = _same_shapes(node, ctx)
    _eltwise(ctx, xs, node.outputs[0], SUM, [1.0 / len(xs)] * len(xs))


@register("Max")
def export_max(ctx, node):
    xs = _same_shapes(node, ctx)
    _eltwise(ctx, xs, node.outputs[0], MAX)


@register("Min")
def export_min(ctx, node):
    """min(a, b, ...) = -max(-a, -b, ...): negation is exact."""
    xs = _same_shapes(node, ctx)
    negs = []
    for k, x in enumerate(xs):
        negs.append(ctx.tmp(f"neg{k}"))
        ctx.power(x, negs[-1], scale=-1.0, suffix=f"neg{k}")
    m = ctx.tmp("max")
    _eltwise(ctx, negs, m, MAX)
    ctx.power(m, node.outputs[0], scale=-1.0, suffix="neg")
