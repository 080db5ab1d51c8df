"""Element-wise arithmetic, dense layers, batch norm and reductions as LiteRT builtins."""
from __future__ import annotations

import numpy as np

from ...ir.perm import identity
from ..common import bias_add_after
from .context import TFLiteContext, attr, unsupported_attr
from .registry import register

_BINARY = {"Add": ("ADD", "AddOptions"), "Sub": ("SUB", "SubOptions"), "Mul": ("MUL", "MulOptions"),
           "Div": ("DIV", "DivOptions")}
_REDUCE = {"ReduceMean": "MEAN", "ReduceMax": "REDUCE_MAX", "ReduceMin": "REDUCE_MIN", "ReduceSum": "SUM",
           "ReduceProd": "REDUCE_PROD"}


def operand(ctx: TFLiteContext, value: str, perm: tuple, rank: int) -> int:
    """``value`` as an operand broadcasting against a rank-``rank`` tensor stored as ``perm``:
    constants get the full rank and the layout offline."""
    w = ctx.weight(value)
    if w is not None:
        full = np.reshape(w, (1,) * (rank - w.ndim) + w.shape)
        return ctx.const(np.transpose(full, perm), value)
    if len(ctx.ir_shape(value)) == rank:
        return ctx.get(value, perm)
    if perm != identity(rank):
        raise unsupported_attr("broadcast", value, "a lower-rank computed operand of a channels-last tensor")
    return ctx.get(value)


def _layout(ctx: TFLiteContext, node, rank: int) -> tuple:
    """The layout of the first full-rank computed operand (the others follow it)."""
    for v in node.inputs:
        if v and ctx.weight(v) is None and len(ctx.ir_shape(v)) == rank:
            return ctx.perm(v)
    return identity(rank)


@register(*_BINARY)
def export_binary(ctx: TFLiteContext, node) -> None:
    rank = len(ctx.ir_shape(node.outputs[0]))
    perm = _layout(ctx, node, rank)
    ins = [operand(ctx, v, perm, rank) for v in node.inputs]
    act, out_value = ctx.fused(node.outputs[0])
    code, options = _BINARY[node.op]
    ctx.op(code, ins, [ctx.out(out_value, perm)], options, fusedActivationFunction=act)


def _dense(node, ctx: TFLiteContext, x: str, kernel: np.ndarray, bias: np.ndarray | None, out: str,
           bias_name: str, keep_dims: bool) -> None:
    """FULLY_CONNECTED: ``kernel`` is (out, in)."""
    xi = ctx.get(x)
    if x in ctx.flat_rows:  # the input is flattened in stored order: read the kernel that way
        kernel = kernel[:, ctx.flat_rows[x]]
    b = ctx.const(bias.astype(np.float32), bias_name) if bias is not None else -1
    act, out_value = ctx.fused(out)
    ctx.op("FULLY_CONNECTED", [xi, ctx.const(kernel.astype(np.float32, copy=False), node.inputs[1], quant_axis=0), b],
           [ctx.out(out_value)], "FullyConnectedOptions", fusedActivationFunction=act, keepNumDims=keep_dims)


@register("Gemm")
def export_gemm(ctx: TFLiteContext, node) -> None:
    if attr(node, "transA"):
        raise unsupported_attr("transA", 1, "LiteRT's FULLY_CONNECTED takes A as is")
    w = ctx.weight(node.inputs[1])
    if w is None:
        raise unsupported_attr("B", node.inputs[1], "a computed Gemm weight has no LiteRT builtin")
    alpha = float(attr(node, "alpha"))
    w = w * alpha if alpha != 1.0 else w  # the weight itself otherwise: laid out when packed
    kernel = w if attr(node, "transB") else w.T
    bias = None
    if len(node.inputs) > 2 and node.inputs[2]:
        c = ctx.weight(node.inputs[2])
        if c is None or c.size not in (1, kernel.shape[0]):
            raise unsupported_attr("C", node.inputs[2], "the bias must be a constant of one value per output")
        bias = np.broadcast_to(c.reshape(-1) * float(attr(node, "beta")), (kernel.shape[0],))
    _dense(node, ctx, node.inputs[0], kernel, bias, node.outputs[0], node.inputs[2] if bias is not None else "",
           keep_dims=False)


@register("MatMul")
def export_matmul(ctx: TFLiteContext, node) -> None:
    a, b = node.inputs
    w = ctx.weight(b)
    if w is not None and w.ndim == 2:
        fused = bias_add_after(ctx, node, w.shape[1])
        out, bias, bias_name = node.outputs[0], None, ""
        if fused is not None:
            add, bias = fused
            out, bias_name = add.outputs[0], next(i for i in add.inputs if i != node.outputs[0])
        _dense(node, ctx, a, w.T, bias, out, bias_name, keep_dims=True)
        return
    if w is not None or len(ctx.ir_shape(a)) < 2 or len(ctx.ir_shape(b)) < 2:
        raise unsupported_attr("B", b, "BATCH_MATMUL takes two computed operands of rank >= 2")
    ctx.op("BATCH_MATMUL", [ctx.get(a), ctx.get(b)], [ctx.out(node.outputs[0])], "BatchMatMulOptions")


@register("BatchNormalization")
def export_batchnorm(ctx: TFLiteContext, node) -> None:
    x, scale, bias, mean, var = node.inputs[:5]
    arrays = [ctx.weight(v) for v in (scale, bias, mean, var)]
    if any(a is None for a in arrays):
        raise unsupported_attr("statistics", node.name, "batch norm needs constant statistics")
    g, b, m, v = (a.astype(np.float64) for a in arrays)
    mul = g / np.sqrt(v + float(attr(node, "epsilon")))
    add = b - m * mul
    rank = len(ctx.ir_shape(x))
    perm = ctx.perm(x)
    shape = [1] * rank
    shape[perm.index(1)] = -1  # the channel axis where it is stored
    xi = ctx.get(x, perm)
    scaled = ctx.like(xi, f"{node.outputs[0]}/scaled")
    ctx.op("MUL", [xi, ctx.const(mul.astype(np.float32).reshape(shape), f"{node.name}/mul")], [scaled],
           "MulOptions")
    ctx.op("ADD", [scaled, ctx.const(add.astype(np.float32).reshape(shape), f"{node.name}/add")],
           [ctx.out(node.outputs[0], perm)], "AddOptions")


@register(*_REDUCE)
def export_reduce(ctx: TFLiteContext, node) -> None:
    x = node.inputs[0]
    rank = len(ctx.ir_shape(x))
    axes = attr(node, "axes")
    axes = sorted(a % rank for a in axes) if axes else list(range(rank))
    keep = bool(attr(node, "keepdims"))
    perm = ctx.perm(x)
    xi = ctx.get(x, perm)
    stored_axes = [perm.index(a) for a in axes]
    if keep:
        out_perm = perm
    else:  # the kept axes, renumbered, in their stored order
        kept = [p for p in perm if p not in axes]
        out_perm = tuple(sorted(kept).index(p) for p in kept)
    ctx.op(_REDUCE[node.op], [xi, ctx.ints(stored_axes, f"{node.name}/axes")],
           [ctx.out(node.outputs[0], out_perm)], "ReducerOptions", keepDims=keep)


@register("TopK")
def export_topk(ctx: TFLiteContext, node) -> None:
    """TOPK_V2 keeps the k largest of the last stored axis, sorted, lower index first among
    equals (as ONNX asks; sorted=0 leaves the order open, so sorted output serves it too):
    the IR axis is stored last (one TRANSPOSE where it is not), the k smallest are the k
    largest of NEG x, negated back, and the int32 indices are cast to the IR's int64."""
    x = node.inputs[0]
    rank = len(ctx.ir_shape(x))
    axis = int(attr(node, "axis")) % rank
    largest = bool(attr(node, "largest"))
    if ctx.dtype(x) != "float32":
        raise unsupported_attr("X", ctx.dtype(x), "a float32 input")
    perm = ctx.perm(x)
    if perm[-1] != axis:
        perm = tuple(p for p in range(rank) if p != axis) + (axis,)
    xi = ctx.get(x, perm)
    k = int(attr(node, "k"))
    dims = ctx.dims(xi)[:-1] + [k]
    if not largest:
        xi = ctx.step("NEG", [xi], ctx.dims(xi), f"{node.name}/negated")
    values, indices = (list(node.outputs) + ["", ""])[:2]
    top = ctx.out(values, perm) if largest and values else ctx.tensor(f"{node.name}/values", dims)
    idx = ctx.tensor(f"{node.name}/indices32", dims, "int32")
    ctx.op("TOPK_V2", [xi, ctx.ints(k, f"{node.name}/k")], [top, idx], "TopKV2Options")
    if not largest and values:
        ctx.op("NEG", [top], [ctx.out(values, perm)])
    if indices:
        types = ctx.S.TensorType
        ctx.op("CAST", [idx], [ctx.out(indices, perm, "int64")], "CastOptions", inDataType=types.INT32,
               outDataType=types.INT64)


def _matmul_form(equation: str) -> tuple[bool, bool] | None:
    """(adjX, adjY) where ``equation`` is a batched matrix product that BATCH_MATMUL computes
    on its operands as stored: both inputs and the output share leading batch letters in
    one order, then A is (i, k) or (k, i), B (k, j) or (j, k), the output (i, j). Else None."""
    lhs, _, out = equation.replace(" ", "").partition("->")
    terms = lhs.split(",")
    if len(terms) != 2 or "." in equation or not out or len(set(out)) != len(out):
        return None
    a, b = terms
    n = len(out) - 2
    if n < 0 or len(a) != n + 2 or len(b) != n + 2 or a[:n] != out[:n] or b[:n] != out[:n]:
        return None
    i, j = out[n:]
    ka, kb = set(a[n:]) - {i}, set(b[n:]) - {j}
    if len(ka) != 1 or ka != kb or i not in a[n:] or j not in b[n:] or ka & {i, j}:
        return None
    return a[n:] != i + min(ka), b[n:] != min(kb) + j


@register("Einsum")
def export_einsum(ctx: TFLiteContext, node) -> None:
    """An einsum that is a batched matrix product (maxvit's attention scores ``BGHID,BGHJD->BGHIJ``)
    as one BATCH_MATMUL, operands transposed by its adj flags; any other equation is refused."""
    equation = str(attr(node, "equation"))
    form = _matmul_form(equation)
    if form is None or len(node.inputs) != 2 or any(ctx.weight(v) is not None for v in node.inputs):
        raise unsupported_attr("equation", equation, "a batched matrix product of two computed operands")
    if len(ctx.ir_shape(node.outputs[0])) > 5:
        raise unsupported_attr("equation", equation, "BATCH_MATMUL over at most 5 dimensions")
    adj_x, adj_y = form
    ctx.op("BATCH_MATMUL", [ctx.get(v) for v in node.inputs], [ctx.out(node.outputs[0])], "BatchMatMulOptions",
           adjX=adj_x, adjY=adj_y)
