"""In-place ops that overwrite their first argument without reading it. The walk
(context.py, mutation.py) rebinds the argument to the value returned here; other
in-place ops (``relu_``, ``add_``...) reuse the functional handler."""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ..context import TORCH_DTYPE, Param, TorchContext
from ..registry import register


@register("aten.copy_.default", emits=("Cast", "Expand"))
def import_copy_(ctx: TorchContext, node) -> str:
    """``dst.copy_(src)``: src cast to dst's dtype and broadcast to dst's shape."""
    dst, src = node.args[0], node.args[1]
    out_shape, dtype = ctx.shape(dst), ctx.dtype(dst)
    const = ctx.array(src)
    if const is not None and all(isinstance(d, int) for d in out_shape):
        out_shape = ctx.claim("copy_ into a constant", out_shape, dtype)
        return Param(f"{ctx.layer_name}_const", np.broadcast_to(np.asarray(const).astype(dtype), out_shape).copy())
    value = ctx.v(src)
    if ctx.dtype(src) != dtype:
        value = ctx.op("Cast", value, to=dtype)
    in_shape = ctx.shape(src)
    if in_shape == out_shape:
        return value
    if any(isinstance(d, str) for d in out_shape):
        raise UnsupportedAttributeError("shape", list(out_shape), "copy_ broadcasting into a symbolic shape")
    return ctx.op("Expand", value, shape=list(out_shape))


@register("aten.fill_.Scalar", "aten.fill_.Tensor", "aten.zero_.default", emits=())  # a weight, no op
def import_fill_(ctx: TorchContext, node) -> Param:
    shape = ctx.shape(node.args[0])
    if any(isinstance(d, str) for d in shape):
        raise UnsupportedAttributeError("shape", list(shape), "filling a tensor of symbolic shape")
    value = ctx.array(node.args[1]) if len(node.args) > 1 else 0
    if value is None:
        raise UnsupportedAttributeError("value", node.args[1].name, "a constant fill value")
    dt = TORCH_DTYPE.get(str(ctx.meta(node.args[0]).dtype), "float32")
    return Param(f"{ctx.layer_name}_const", np.full(ctx.claim("filled tensor", shape, dt), value, dtype=dt))
