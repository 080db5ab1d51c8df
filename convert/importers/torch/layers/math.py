"""Arithmetic, dense layers, reductions, casts, constants, cumsum, einsum and indexing."""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ..context import TORCH_DTYPE, Param, TorchContext, Zeros, is_fx
from ..registry import register
from .identity import import_passthrough

_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div"}

_BINARY_KEYS = [f"aten.{n}.{kind}" for kind in ("Tensor", "Scalar") for n in ("add", "sub", "mul", "div")]

def _operand(ctx: TorchContext, arg, alpha=1) -> str:
    """A binary operand, pre-multiplied by alpha (torch's add/sub ``alpha``)."""
    dt = ctx.dtype(ctx.node)
    if alpha != 1:
        const = ctx.array(arg)
        if const is not None:
            return ctx.b.weight(f"{ctx.layer_name}_const", (const * alpha).astype(dt))
        return ctx.op("Mul", ctx.v(arg), ctx.v(alpha, dt))
    return ctx.v(arg, dt)


@register(*_BINARY_KEYS, emits={k: (_BINARY[k.split(".")[1]], "Mul") for k in _BINARY_KEYS})
def import_binary(ctx: TorchContext, node) -> str:
    a = ctx.args(node)
    op = _BINARY[str(node.target).split(".")[1]]
    alpha = a[2] if len(a) > 2 and a[2] is not None else 1
    return ctx.op(op, _operand(ctx, a[0]), _operand(ctx, a[1], alpha))


@register("aten.div.Tensor_mode", emits=("Div", "Floor", "Mul"))
def import_div_mode(ctx: TorchContext, node) -> str:
    x, y, mode = ctx.args(node)
    q = ctx.op("Div", _operand(ctx, x), _operand(ctx, y))
    if mode is None:
        return q
    if mode == "floor":
        return ctx.op("Floor", q)
    raise UnsupportedAttributeError("rounding_mode", mode, "supported: None, 'floor'")


@register("aten.rsub.Scalar", "aten.rsub.Tensor", emits=("Mul", "Sub"))
def import_rsub(ctx: TorchContext, node) -> str:
    x, other, alpha = ctx.args(node)
    return ctx.op("Sub", _operand(ctx, other), _operand(ctx, x, alpha if alpha is not None else 1))


@register("aten.pow.Tensor_Scalar", "aten.pow.Tensor_Tensor", emits=("Mul", "Pow"))
def import_pow(ctx: TorchContext, node) -> str:
    x, e = ctx.args(node)
    return ctx.op("Pow", ctx.v(x), _operand(ctx, e))


@register("aten.maximum.default", "aten.minimum.default", emits=("Max", "Min"))
def import_max_min(ctx: TorchContext, node) -> str:
    x, y = ctx.args(node)
    return ctx.op("Max" if "maximum" in str(node.target) else "Min", ctx.v(x), ctx.v(y))


@register("aten.linear.default", emits=("Add", "Gemm", "MatMul", "Transpose"))
def import_linear(ctx: TorchContext, node) -> str:
    """2-D input: Gemm(transB=1); N-D input: MatMul with the transposed weight, then Add."""
    x, w, bias = ctx.args(node)
    if ctx.rank(x) == 2:
        ins = [ctx.v(x), ctx.v(w)] + ([ctx.v(bias)] if bias is not None else [])
        return ctx.op("Gemm", *ins, transB=1)
    wa = ctx.array(w)
    wt = ctx.b.weight(ctx.layer_name + ".weight_t", wa.T) if wa is not None else ctx.op("Transpose", ctx.v(w), perm=[1, 0])
    y = ctx.op("MatMul", ctx.v(x), wt)
    return ctx.op("Add", y, ctx.v(bias)) if bias is not None else y


@register("aten.matmul.default", "aten.bmm.default", "aten.mm.default", emits=("MatMul",))
def import_matmul(ctx: TorchContext, node) -> str:
    x, y = ctx.args(node)
    return ctx.op("MatMul", ctx.v(x), ctx.v(y))


@register("aten.addmm.default", emits=("Gemm",))
def import_addmm(ctx: TorchContext, node) -> str:
    c, a, b, beta, alpha = ctx.args(node)
    return ctx.op("Gemm", ctx.v(a), ctx.v(b), ctx.v(c), alpha=float(alpha), beta=float(beta))


_REDUCE_DIMS = {"aten.mean.dim": "ReduceMean", "aten.sum.dim_IntList": "ReduceSum", "aten.amax.default": "ReduceMax",
                "aten.amin.default": "ReduceMin"}
_REDUCE_ALL = {"aten.mean.default": "ReduceMean", "aten.sum.default": "ReduceSum"}


@register(*_REDUCE_DIMS, emits=_REDUCE_DIMS)
def import_reduce(ctx: TorchContext, node) -> str:
    a = ctx.args(node)
    x, dims, keep = a[0], a[1], a[2]
    if len(a) > 3 and a[3] is not None:
        raise UnsupportedAttributeError("dtype", a[3])
    rank = ctx.rank(x)
    axes = None if not dims else sorted(int(d) % rank for d in dims)
    return ctx.op(_REDUCE_DIMS[str(node.target)], ctx.v(x), axes=axes, keepdims=int(bool(keep)))


@register(*_REDUCE_ALL, emits=_REDUCE_ALL)
def import_reduce_all(ctx: TorchContext, node) -> str:
    return ctx.op(_REDUCE_ALL[str(node.target)], ctx.v(node.args[0]), keepdims=0)


# -- identity-like and constants ------------------------------------------------


@register("aten._to_copy.default", "aten.to.dtype", "aten.type_as.default", emits=("Cast",))
def import_cast(ctx: TorchContext, node):
    src, dst = ctx.dtype(node.args[0]), ctx.dtype(node)
    if src == dst:
        return import_passthrough(ctx, node)
    const = ctx.array(node.args[0])
    if const is not None:
        return Param(f"{ctx.layer_name}_const", np.asarray(const).astype(dst))
    return ctx.op("Cast", ctx.v(node.args[0]), to=dst)


@register("aten.zeros.default", "aten.ones.default", "aten.full.default", "aten.scalar_tensor.default",
          "aten.zeros_like.default", "aten.ones_like.default", "aten.new_zeros.default", "aten.new_ones.default",
          "aten.new_full.default", emits=("Where", "Cast"))  # weights; Where for a symbolic shape
def import_constant_tensor(ctx: TorchContext, node):
    """Constant tensors of static shape become weights; a symbolic shape is only
    accepted as an RNN initial state (see layers/rnn.py)."""
    shape = ctx.shape(node)
    kind = str(node.target).split(".")[1]
    value = {"zeros": 0, "zeros_like": 0, "ones": 1, "ones_like": 1, "new_zeros": 0, "new_ones": 1}.get(kind)
    if value is None:
        value = node.args[{"full": 1, "new_full": 2}.get(kind, 0)]
    if any(isinstance(d, str) for d in shape):
        if kind.endswith("_like") and not isinstance(ctx.env.get(node.args[0]), Zeros):
            return _filled_like(ctx, node.args[0], value, TORCH_DTYPE.get(str(ctx.meta(node).dtype), "float32"))
        if value == 0:
            return Zeros(shape)
        raise UnsupportedAttributeError("shape", shape, "constant tensor of symbolic shape")
    dt = TORCH_DTYPE.get(str(ctx.meta(node).dtype), "float32")
    return Param(f"{ctx.layer_name}_const", np.full(ctx.claim(kind, shape, dt), value, dtype=dt))


def _filled_like(ctx: TorchContext, x, value, dtype: str) -> str:
    """``ones_like(x)`` of a symbolic shape: Where(True, value, x) broadcasts the value to
    x's shape exactly, whatever x holds."""
    src = ctx.v(x)
    if ctx.dtype(x) != dtype:
        src = ctx.op("Cast", src, to=dtype)
    true = ctx.b.weight(f"{ctx.layer_name}_true", np.ones([1] * ctx.rank(x), dtype=bool))
    return ctx.op("Where", true, ctx.b.weight(f"{ctx.layer_name}_value", np.asarray(value, dtype=dtype)), src)


@register("aten.cumsum.default", emits=("CumSum",))
def import_cumsum(ctx: TorchContext, node) -> str:
    x, dim, dtype = ctx.args(node)[:3]
    if dtype is not None and TORCH_DTYPE.get(str(dtype)) not in (None, ctx.dtype(x)):
        raise UnsupportedAttributeError("dtype", str(dtype), "the input's dtype")
    return ctx.op("CumSum", ctx.v(x), axis=int(dim) % ctx.rank(x))


@register("aten.arange.default", "aten.arange.start", "aten.arange.start_step", emits=("SizeRange",))
def import_arange(ctx: TorchContext, node):
    """A range of fixed bounds is a constant; an end that is an input's symbolic size
    (``torch.arange(ids.size(1))``) is a SizeRange read at run time."""
    bounds = [a for a in node.args if a is not None]
    dt = TORCH_DTYPE.get(str(ctx.meta(node).dtype), "int64")
    if any(not isinstance(b, (int, float)) for b in bounds):
        return _size_range(ctx, bounds, dt)
    step = bounds[2] if len(bounds) > 2 else 1
    start, end = (bounds[0], bounds[1]) if len(bounds) > 1 else (0, bounds[0])
    ctx.claim("arange", [max(0, int(np.ceil((end - start) / step)))], dt)
    return Param(f"{ctx.layer_name}_const", np.arange(*bounds).astype(dt))


def _size_range(ctx: TorchContext, bounds: list, dtype: str) -> str:
    from .shape import size_source

    start, end, step = ((0, bounds[0], 1) if len(bounds) == 1 else (bounds + [1])[:3])
    src = None
    if is_fx(end) and not isinstance(start, bool) and isinstance(start, int) and isinstance(step, int):
        val = end.meta.get("val")
        src = size_source(ctx, ctx.dim(val)) if hasattr(val, "node") else None
    if src is None or dtype not in ("int64", "int32", "float32"):
        raise UnsupportedAttributeError("end", getattr(end, "name", end), "fixed bounds, or an input's size as "
                                        "the end with integer start and step")
    return ctx.op("SizeRange", src[0], axis=src[1], start=int(start), delta=int(step), dtype=dtype)


@register("aten.einsum.default", emits=("Einsum",))
def import_einsum(ctx: TorchContext, node) -> str:
    equation, operands = ctx.args(node)[:2]
    if "..." in equation:
        raise UnsupportedAttributeError("equation", equation, "explicit subscripts (no ellipsis)")
    return ctx.op("Einsum", *[ctx.v(t) for t in operands], equation=equation.replace(" ", ""))


@register("aten.index.Tensor", emits=("Gather",))
def import_index(ctx: TorchContext, node):
    """Advanced indexing of a constant by constant indices (a relative-position bias table
    read through a fixed index buffer) is folded; one index tensor on the first axis is a
    Gather."""
    x, indices = ctx.args(node)[:2]
    arrays = [None if i is None else ctx.array(i) for i in indices]
    base = ctx.array(x)
    if base is not None and all(i is None or a is not None for i, a in zip(indices, arrays)):
        key = tuple(slice(None) if a is None else np.asarray(a) for a in arrays)
        picked = np.broadcast_shapes(*[k.shape for k in key if not isinstance(k, slice)])
        kept = [d for k, d in zip(key + (slice(None),) * (base.ndim - len(key)), base.shape) if isinstance(k, slice)]
        ctx.claim("indexed constant", [int(np.prod(picked, dtype=np.int64) * np.prod(kept, dtype=np.int64))], str(base.dtype))
        return Param(f"{ctx.layer_name}_const", np.asarray(base[key]))
    if len(indices) == 1 and indices[0] is not None and ctx.dtype(indices[0]) in ("int64", "int32"):
        return ctx.op("Gather", ctx.v(x), ctx.v(indices[0]), axis=0)
    raise UnsupportedAttributeError("indices", len(indices), "constant indices into a constant, or one integer "
                                    "index tensor on the first axis")
