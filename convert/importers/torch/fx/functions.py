"""torch.fx front end: operators, torch.* / F.* functions and Tensor methods -> ATen calls.

Shapes for view/reshape/flatten/expand come from the shape passes (the handlers read
the output shape), so ``x.size(0)`` arguments need no conversion of their own.
"""
from __future__ import annotations

from .front import TV, Sym, register


def _ov(name: str, overload: str = "default"):
    import torch

    return getattr(getattr(torch.ops.aten, name), overload)


def _opt(node, i: int, name: str, default):
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


def _x(lx, node):
    return lx.a(node.args[0] if node.args else node.kwargs.get("input"))


def _ints(v) -> list:
    return [int(i) for i in v] if isinstance(v, (list, tuple)) else [int(v)]


def _rest(node, start: int) -> list:
    """``x.view(2, 3)`` and ``x.view((2, 3))`` alike."""
    rest = list(node.args[start:])
    return list(rest[0]) if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else rest


# -- arithmetic ---------------------------------------------------------------------
_BIN = {"add": "add", "iadd": "add", "radd": "add", "sub": "sub", "isub": "sub", "rsub": "sub", "mul": "mul",
        "imul": "mul", "rmul": "mul", "truediv": "div", "itruediv": "div", "div": "div", "rtruediv": "div",
        "multiply": "mul", "subtract": "sub", "divide": "div"}


@register(*[f"fn:operator.{k}" for k in ("add", "iadd", "sub", "isub", "mul", "imul", "truediv", "itruediv")],
          *[f"fn:torch.{k}" for k in ("add", "sub", "mul", "div", "multiply", "subtract", "divide")],
          *[f"method:{k}" for k in ("add", "sub", "mul", "div", "add_", "sub_", "mul_", "div_", "__radd__",
                                     "__rsub__", "__rmul__", "__rtruediv__", "multiply", "subtract", "divide",
                                     "__add__", "__sub__", "__mul__", "__truediv__", "__iadd__", "__isub__",
                                     "__imul__", "__itruediv__")])
def import_binary(ctx, node):
    name = str(node.target if node.op == "call_method" else node.target.__name__).strip("_")
    a, b = ctx.a(node.args[0]), ctx.a(_opt(node, 1, "other", None))
    if name.startswith("r") and name[1:] in _BIN:  # x.__rsub__(y) is y - x
        a, b, name = b, a, name[1:]
    alpha = node.kwargs.get("alpha", 1)
    mode = node.kwargs.get("rounding_mode")
    for v in (a, b, alpha):
        if isinstance(v, Sym):
            ctx.fail("operand", v, "arithmetic with a batch-dependent size")
    op = _BIN[name]
    if mode is not None:
        return ctx.emit(_ov("div", "Tensor_mode"), (a, b, mode))
    return ctx.emit(_ov(op, "Tensor"), (a, b, alpha) if alpha != 1 else (a, b))


@register("fn:operator.floordiv", "fn:torch.floor_divide", "method:floor_divide")
def import_floordiv(ctx, node):
    return ctx.emit(_ov("div", "Tensor_mode"), (ctx.a(node.args[0]), ctx.a(node.args[1]), "floor"))


@register("fn:operator.neg", "method:__neg__")
def import_neg(ctx, node):
    return ctx.emit(_ov("neg"), (_x(ctx, node),))


@register("fn:operator.pow", "fn:torch.pow", "method:pow", "method:__pow__")
def import_pow(ctx, node):
    a, e = ctx.a(node.args[0]), ctx.a(_opt(node, 1, "exponent", None))
    if not hasattr(a, "op"):
        ctx.fail("base", a, "a tensor base")
    return ctx.emit(_ov("pow", "Tensor_Tensor" if hasattr(e, "op") else "Tensor_Scalar"), (a, ctx.static(e, "exponent")
                                                                                          if not hasattr(e, "op") else e))


@register("fn:torch.maximum", "fn:torch.minimum", "method:maximum", "method:minimum")
def import_max_min(ctx, node):
    name = node.target if node.op == "call_method" else node.target.__name__
    return ctx.emit(_ov(name), (ctx.a(node.args[0]), ctx.a(node.args[1])))


@register("fn:operator.matmul", "fn:torch.matmul", "method:matmul", "fn:torch.bmm", "method:bmm", "fn:torch.mm",
          "method:mm")
def import_matmul(ctx, node):
    return ctx.emit(_ov("matmul"), (ctx.a(node.args[0]), ctx.a(node.args[1])))


@register("fn:torch.addmm")
def import_addmm(ctx, node):
    c, a, b = (ctx.a(x) for x in node.args[:3])
    return ctx.emit(_ov("addmm"), (c, a, b, node.kwargs.get("beta", 1), node.kwargs.get("alpha", 1)))


@register("fn:torch.nn.functional.linear", "fn:torch._C._nn.linear")
def import_linear(ctx, node):
    return ctx.emit(_ov("linear"), (ctx.a(node.args[0]), ctx.a(node.args[1]), ctx.a(_opt(node, 2, "bias", None))))


# -- reductions -------------------------------------------------------------------------
@register("fn:torch.mean", "method:mean", "fn:torch.sum", "method:sum", "fn:torch.amax", "method:amax",
          "fn:torch.amin", "method:amin")
def import_reduce(ctx, node):
    name = node.target if node.op == "call_method" else node.target.__name__
    dim = _opt(node, 1, "dim", None)
    keep = bool(_opt(node, 2, "keepdim", False))
    if node.kwargs.get("dtype") is not None:
        ctx.fail("dtype", node.kwargs["dtype"])
    if dim is None and name in ("mean", "sum"):
        return ctx.emit(_ov(name), (_x(ctx, node),))
    target = _ov(name, "dim_IntList") if name == "sum" else _ov(name, "dim") if name == "mean" else _ov(name)
    return ctx.emit(target, (_x(ctx, node), _ints(ctx.static(dim, "dim")) if dim is not None else [], keep))


# -- shape ---------------------------------------------------------------------------------
@register("method:view", "method:reshape", "fn:torch.reshape", "method:flatten", "fn:torch.flatten",
          "method:unflatten", "fn:torch.unflatten", "method:view_as", "method:reshape_as")
def import_reshape(ctx, node):
    """The handler writes the traced output shape (batch as 0 / -1), whatever the arguments."""
    out = ctx.meta()
    if not isinstance(out, TV):
        ctx.fail("result", type(out).__name__)
    if node.target == "view" and len(node.args) == 2 and not isinstance(node.args[1], (int, list, tuple)) \
            and not hasattr(node.args[1], "op"):
        ctx.fail("dtype", node.args[1], "view as another dtype")
    return ctx.emit(_ov("reshape"), (_x(ctx, node), [d if isinstance(d, int) else -1 for d in out.shape]))


@register("method:permute", "fn:torch.permute")
def import_permute(ctx, node):
    return ctx.emit(_ov("permute"), (_x(ctx, node), _ints(ctx.static(_rest(node, 1) or node.kwargs.get("dims"), "dims"))))


@register("method:transpose", "fn:torch.transpose", "method:swapaxes", "fn:torch.swapaxes")
def import_transpose(ctx, node):
    d0, d1 = (int(ctx.static(d, "dim")) for d in (node.args[1], node.args[2]))
    return ctx.emit(_ov("transpose", "int"), (_x(ctx, node), d0, d1))


@register("method:t", "fn:torch.t")
def import_t(ctx, node):
    return ctx.emit(_ov("t"), (_x(ctx, node),))


@register("method:contiguous", "method:clone", "fn:torch.clone", "method:detach", "fn:torch.detach",
          "fn:torch.nn.functional.dropout", "fn:torch.nn.functional.dropout1d", "fn:torch.nn.functional.dropout2d",
          "fn:torch.nn.functional.dropout3d", "fn:torch.nn.functional.alpha_dropout")
def import_identity(ctx, node):
    """Copies, and functional dropout (a no-op in eval unless training=True is passed)."""
    if "dropout" in str(getattr(node.target, "__name__", "")) and _opt(node, 2, "training", False) is not False:
        ctx.fail("training", _opt(node, 2, "training", False), "functional dropout must not train")
    return _x(ctx, node)


@register("method:float", "method:double", "method:half", "method:long", "method:int", "method:bool",
          "method:to", "method:type_as", "method:type")
def import_cast(ctx, node):
    if not isinstance(ctx.meta(), TV):
        ctx.fail("result", type(ctx.meta()).__name__, "a tensor")
    return ctx.emit(_ov("_to_copy"), (_x(ctx, node),))


@register("method:squeeze", "fn:torch.squeeze")
def import_squeeze(ctx, node):
    dim = _opt(node, 1, "dim", None)
    if dim is None:
        return ctx.emit(_ov("squeeze"), (_x(ctx, node),))
    return ctx.emit(_ov("squeeze", "dims"), (_x(ctx, node), _ints(ctx.static(dim, "dim"))))


@register("method:unsqueeze", "fn:torch.unsqueeze")
def import_unsqueeze(ctx, node):
    return ctx.emit(_ov("unsqueeze"), (_x(ctx, node), int(ctx.static(_opt(node, 1, "dim", None), "dim"))))


@register("fn:torch.cat", "fn:torch.concat", "fn:torch.concatenate")
def import_cat(ctx, node):
    return ctx.emit(_ov("cat"), (list(ctx.a(node.args[0])), int(ctx.static(_opt(node, 1, "dim", 0), "dim"))))


@register("fn:torch.stack")
def import_stack(ctx, node):
    return ctx.emit(_ov("stack"), (list(ctx.a(node.args[0])), int(ctx.static(_opt(node, 1, "dim", 0), "dim"))))


@register("method:split", "fn:torch.split", "fn:torch.functional.split", "method:chunk", "fn:torch.chunk", "method:tensor_split")
def import_split(ctx, node):
    """Sizes come from the traced results (torch's rule for uneven chunks included)."""
    name = node.target if node.op == "call_method" else node.target.__name__
    dim = int(ctx.static(_opt(node, 2, "dim", 0), "dim"))
    parts = ctx.meta()
    sizes = [p.shape[dim] for p in parts]
    n = ctx.emit(_ov("split_with_sizes"), (_x(ctx, node), ctx.static(sizes, f"{name} sizes"), dim), val=list(parts))
    return ctx.getitems(n, list(parts))


@register("method:unbind", "fn:torch.unbind")
def import_unbind(ctx, node):
    parts = ctx.meta()
    n = ctx.emit(_ov("unbind", "int"), (_x(ctx, node), int(ctx.static(_opt(node, 1, "dim", 0), "dim"))), val=list(parts))
    return ctx.getitems(n, list(parts))


@register("method:expand", "method:expand_as")
def import_expand(ctx, node):
    return ctx.emit(_ov("expand"), (_x(ctx, node), []))


@register("method:repeat")
def import_repeat(ctx, node):
    return ctx.emit(_ov("repeat"), (_x(ctx, node), _ints(ctx.static(_rest(node, 1), "repeats"))))


@register("fn:torch.zeros", "fn:torch.ones", "fn:torch.zeros_like", "fn:torch.ones_like")
def import_filled(ctx, node):
    """Constant tensors whose shape follows the batch (``torch.zeros(x.size(0), ...)``)."""
    name = node.target.__name__
    return ctx.emit(_ov(name), ([],) if not name.endswith("_like") else (_x(ctx, node),))


# -- indexing ------------------------------------------------------------------------------
@register("fn:operator.getitem")
def import_getitem(ctx, node):
    """Tuples pick an element; tensors take basic indexing (ints, slices, None, ...)."""
    seq, idx = ctx.a(node.args[0]), node.args[1]
    if isinstance(seq, (list, tuple)):
        return seq[ctx.static(idx, "index")]
    val = ctx.meta(node.args[0])
    if not isinstance(val, TV):
        ctx.fail("getitem on", type(val).__name__)
    return _index(ctx, seq, val, idx if isinstance(idx, tuple) else (idx,))


def _index(lx, x, val: TV, idx: tuple):
    import torch

    if any(hasattr(i, "op") or isinstance(i, (list, torch.Tensor, bool)) for i in idx):
        lx.fail("index", "tensor", "advanced indexing")
    if sum(i is Ellipsis for i in idx) > 1:
        lx.fail("index", "...", "more than one Ellipsis")
    used = sum(1 for i in idx if i is not None and i is not Ellipsis)
    if Ellipsis in idx:
        at = idx.index(Ellipsis)
        idx = idx[:at] + (slice(None),) * (len(val.shape) - used) + idx[at + 1:]
    shape, axis = list(val.shape), 0
    steps = [i for i in idx]
    for n_done, i in enumerate(steps):
        last = n_done == len(steps) - 1
        if i is None:
            shape.insert(axis, 1)
            x = _step(lx, _ov("unsqueeze"), (x, axis), shape, val.dtype, last)
            axis += 1
        elif isinstance(i, int):
            size = shape[axis]
            if isinstance(size, Sym) and i < 0:
                lx.fail("index", i, "negative index on the batch axis")
            del shape[axis]
            x = _step(lx, _ov("select", "int"), (x, axis, i), shape, val.dtype, last)
        elif isinstance(i, slice):
            start, stop, step = (lx.static(v, "slice") for v in (i.start, i.stop, i.step))
            size = shape[axis]
            if (start, stop, step) != (None, None, None):
                if isinstance(size, Sym):
                    lx.fail("slice", i, "slicing the batch axis")
                shape[axis] = len(range(*slice(start, stop, step).indices(size)))
                x = _step(lx, _ov("slice", "Tensor"), (x, axis, start, stop, step or 1), shape, val.dtype, last)
            axis += 1
        else:
            lx.fail("index", type(i).__name__)
    return x


def _step(lx, target, args, shape, dtype, last: bool):
    return lx.emit(target, args, val=TV(tuple(shape), dtype), primary=last)


# -- resampling, padding, pooling ------------------------------------------------------------
def interpolate(lx, x, size, scale, mode: str, align_corners, recompute):
    """F.interpolate / nn.Upsample as torch's upsample_* ATen ops (scales when given)."""
    out = lx.meta()
    nsp = len(out.shape) - 2
    if recompute:
        scale = None
    if scale is not None:
        scales = [float(s) for s in (scale if isinstance(scale, (list, tuple)) else [scale] * nsp)]
        size = None
    else:
        scales, size = None, [int(s) for s in out.shape[2:]]
    if mode == "nearest":
        return lx.emit(_ov(f"upsample_nearest{nsp}d", "vec"), (x, size, scales))
    name = {"linear": "upsample_linear1d", "bilinear": "upsample_bilinear2d", "trilinear": "upsample_trilinear3d"}
    if mode not in name:
        lx.fail("mode", mode, "supported: nearest, linear, bilinear, trilinear")
    return lx.emit(_ov(name[mode], "vec"), (x, size, bool(align_corners), scales))


@register("fn:torch.nn.functional.interpolate", "fn:torch.nn.functional.upsample")
def import_interpolate(ctx, node):
    size, scale = _opt(node, 1, "size", None), _opt(node, 2, "scale_factor", None)
    mode, align = _opt(node, 3, "mode", "nearest"), _opt(node, 4, "align_corners", None)
    recompute = _opt(node, 5, "recompute_scale_factor", None)
    if _opt(node, 6, "antialias", False):
        ctx.fail("antialias", True)
    ctx.static(size, "size")
    return interpolate(ctx, _x(ctx, node), size, ctx.static(scale, "scale_factor"), mode, align, recompute)


@register("fn:torch.nn.functional.pad", "fn:torch._C._nn.pad")
def import_pad(ctx, node):
    pad = _ints(ctx.static(_opt(node, 1, "pad", None), "pad"))
    mode, value = _opt(node, 2, "mode", "constant"), _opt(node, 3, "value", None)
    return ctx.emit(_ov("pad"), (_x(ctx, node), pad, mode, ctx.static(value, "value")))


@register("fn:torch.nn.functional.max_pool1d", "fn:torch.nn.functional.max_pool2d", "fn:torch.nn.functional.max_pool3d",
          "fn:torch.nn.functional._max_pool1d", "fn:torch.nn.functional._max_pool2d",
          "fn:torch.nn.functional._max_pool3d", "fn:torch.max_pool1d", "fn:torch.max_pool2d", "fn:torch.max_pool3d")
def import_max_pool(ctx, node):
    nsp = len(ctx.meta().shape) - 2
    k = ctx.static(_opt(node, 1, "kernel_size", None), "kernel_size")
    s = ctx.static(_opt(node, 2, "stride", None), "stride") or k
    p, d = _opt(node, 3, "padding", 0), _opt(node, 4, "dilation", 1)
    ceil = _opt(node, 5, "ceil_mode", False)
    if _opt(node, 6, "return_indices", False):
        ctx.fail("return_indices", True)
    return ctx.emit(_ov(f"max_pool{nsp}d"), (_x(ctx, node), _ints(k), _ints(s), _ints(p), _ints(d), bool(ceil)))


@register("fn:torch.nn.functional.avg_pool1d", "fn:torch._C._nn.avg_pool2d", "fn:torch._C._nn.avg_pool3d",
          "fn:torch.avg_pool1d")
def import_avg_pool(ctx, node):
    nsp = len(ctx.meta().shape) - 2
    k = ctx.static(_opt(node, 1, "kernel_size", None), "kernel_size")
    s = ctx.static(_opt(node, 2, "stride", None), "stride") or k
    args = [_x(ctx, node), _ints(k), _ints(s), _ints(_opt(node, 3, "padding", 0)), bool(_opt(node, 4, "ceil_mode", False)),
            bool(_opt(node, 5, "count_include_pad", True))]
    if nsp > 1:
        args.append(_opt(node, 6, "divisor_override", None))
    return ctx.emit(_ov(f"avg_pool{nsp}d"), tuple(args))


@register("fn:torch.nn.functional.adaptive_avg_pool1d", "fn:torch.nn.functional.adaptive_avg_pool2d",
          "fn:torch.nn.functional.adaptive_avg_pool3d", "fn:torch.adaptive_avg_pool1d",
          "fn:torch._C._nn.adaptive_avg_pool2d", "fn:torch._C._nn.adaptive_avg_pool3d")
def import_adaptive_avg_pool(ctx, node):
    out = ctx.meta()
    nsp = len(out.shape) - 2
    return ctx.emit(_ov(f"adaptive_avg_pool{nsp}d"), (_x(ctx, node), ctx.static(list(out.shape[2:]), "output_size")))


@register("fn:torch.conv1d", "fn:torch.conv2d", "fn:torch.conv3d")
def import_conv(ctx, node):
    nsp = int(node.target.__name__[4])
    x, w = ctx.a(node.args[0]), ctx.a(node.args[1])
    b = ctx.a(_opt(node, 2, "bias", None))
    stride, padding = _opt(node, 3, "stride", 1), _opt(node, 4, "padding", 0)
    dilation, groups = _opt(node, 5, "dilation", 1), _opt(node, 6, "groups", 1)
    target = _ov(f"conv{nsp}d", "padding" if isinstance(padding, str) else "default")
    return ctx.emit(target, (x, w, b, _ints(stride), padding if isinstance(padding, str) else _ints(padding),
                            _ints(dilation), int(groups)))


@register("fn:torch.pixel_unshuffle", "fn:torch.pixel_shuffle")
def import_pixel_shuffle_fn(ctx, node):
    name = node.target.__name__
    factor = _opt(node, 1, "downscale_factor" if name == "pixel_unshuffle" else "upscale_factor", None)
    return ctx.emit(_ov(name), (_x(ctx, node), int(ctx.static(factor, "factor"))))
