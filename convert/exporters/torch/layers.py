"""Convolution, pooling, normalisation and dense layers as real torch.nn modules."""
from __future__ import annotations

import numpy as np

from .context import TorchContext, attr, py, unsupported_attr
from .registry import register
from ..common import bias_add_after, fixed_pads_only


def _const(ctx: TorchContext, node, index: int, what: str) -> np.ndarray | None:
    """A constant operand (weights of a layer); None when the optional input is absent."""
    if index >= len(node.inputs) or not node.inputs[index]:
        return None
    w = ctx.weight(node.inputs[index])
    if w is None:
        raise unsupported_attr(what, node.inputs[index], "a torch layer needs constant weights")
    return w


def torch_pad(begin, end) -> list[int]:
    """ONNX [b1.., e1..] -> F.pad order (last axis first)."""
    out: list[int] = []
    for b, e in zip(reversed(list(begin)), reversed(list(end))):
        out += [int(b), int(e)]
    return out


def _spatial(node, nd: int):
    strides = tuple(attr(node, "strides") or [1] * nd)
    dil = tuple(attr(node, "dilations") or [1] * nd)
    pads = list(attr(node, "pads") or [0] * (2 * nd))
    return strides, dil, pads[:nd], pads[nd:]


def _same_upper(node) -> bool:
    return node.attrs.get("auto_pad", "NOTSET") == "SAME_UPPER"  # the table's default is NOTSET


def _same_pads(ctx: TorchContext, node, x: str, kernel, strides, dil) -> str:
    """auto_pad SAME_UPPER on a spatial size known only at run time: ``forward`` computes
    each axis' pads from the input's size (the op table's rule: total =
    max((ceil(n/s) - 1)*s + (k-1)*d + 1 - n, 0), written as k_eff - 1 - (n-1) % s, the odd
    pixel at the end). Returns the variable holding the F.pad list."""
    totals = []
    for axis, (k, s, d) in enumerate(zip(kernel, strides, dil)):
        eff = (int(k) - 1) * int(d) + 1
        total = f"{eff - 1} - ({x}.shape[{axis + 2}] - 1) % {int(s)}"
        if eff < s:  # only then can it go negative
            total = f"max({total}, 0)"
        t = ctx.tmp(f"{node.name}_pad{axis}")
        ctx.line(f"{t} = {total}")
        totals.append(t)
    pads = ctx.tmp(f"{node.name}_pads")
    ctx.line(f"{pads} = [{', '.join(f'{t} // 2, {t} - {t} // 2' for t in reversed(totals))}]")
    return pads


def _pre_pad(ctx: TorchContext, x: str, begin, end, value: float = 0.0) -> str:
    return _padded(ctx, x, py(torch_pad(begin, end)), value)


def _conv_parts(ctx: TorchContext, node, layer: str):
    """Weights, bias, spatial rank, strides, dilations, pads, group and the layer's state of a
    (transposed) convolution whose torch layer ``layer`` exists in 1-D, 2-D and 3-D."""
    w = _const(ctx, node, 1, "W")
    b = _const(ctx, node, 2, "B")
    nd = w.ndim - 2
    if nd not in (1, 2, 3):
        raise unsupported_attr("kernel_shape", list(w.shape[2:]), f"torch has {layer}1d/2d/3d")
    strides, dil, begin, end = _spatial(node, nd)
    state = {"weight": w} if b is None else {"weight": w, "bias": b}
    return w, b, nd, strides, dil, begin, end, attr(node, "group"), state


@register("Conv")
def export_conv(ctx: TorchContext, node):
    w, b, nd, strides, dil, begin, end, group, state = _conv_parts(ctx, node, "Conv")
    x = ctx.x(node.inputs[0])
    padding = tuple(begin)
    if _same_upper(node):
        x, padding = _padded(ctx, x, _same_pads(ctx, node, x, w.shape[2:], strides, dil)), (0,) * nd
    elif begin != end:  # torch pads symmetrically: pad explicitly first, exactly as ONNX does
        x, padding = _pre_pad(ctx, x, begin, end), (0,) * nd
    m = ctx.layer(node, f"nn.Conv{nd}d", [int(w.shape[1] * group), int(w.shape[0]), tuple(w.shape[2:])],
                  dict(stride=strides, padding=padding, dilation=dil, groups=group, bias=b is not None), state)
    ctx.assign(node.outputs[0], f"{m}({x})")


@register("ConvTranspose")
def export_conv_transpose(ctx: TorchContext, node):
    w, b, nd, strides, dil, begin, end, group, state = _conv_parts(ctx, node, "ConvTranspose")
    fixed_pads_only(node, "torch")
    out_pad = tuple(attr(node, "output_padding") or [0] * nd)
    for op_, s, d in zip(out_pad, strides, dil):
        if op_ >= max(s, d):
            raise unsupported_attr("output_padding", list(out_pad), "torch needs output_padding < stride or dilation")
    common = tuple(min(p, q) for p, q in zip(begin, end))
    m = ctx.layer(node, f"nn.ConvTranspose{nd}d", [int(w.shape[0]), int(w.shape[1] * group), tuple(w.shape[2:])],
                  dict(stride=strides, padding=common, output_padding=out_pad, groups=group,
                       bias=b is not None, dilation=dil), state)
    expr = f"{m}({ctx.x(node.inputs[0])})"
    if tuple(begin) != tuple(end):  # asymmetric pads crop the output: crop the remainder by slicing
        idx = [":", ":"] + [f"{p - c}:{-(q - c) if q > c else ''}" for p, q, c in zip(begin, end, common)]
        expr = f"{expr}[{', '.join(idx)}]"
    ctx.assign(node.outputs[0], expr)


def _padded(ctx: TorchContext, x: str, pads: str, value: float = 0.0) -> str:
    t = ctx.tmp("padded")
    extra = "" if value == 0.0 else f", value={py(float(value))}"
    ctx.line(f"{t} = F.pad({x}, {pads}{extra})")
    return t


def _pool_padding(node, ctx: TorchContext, x: str, nd: int, pad_value: float, can_pre_pad: bool):
    kernel = list(attr(node, "kernel_shape"))
    strides, dil, begin, end = _spatial(node, nd)
    if _same_upper(node):
        if not can_pre_pad:
            raise unsupported_attr("auto_pad", "SAME_UPPER", "torch pooling pads by fixed amounts")
        x = _padded(ctx, x, _same_pads(ctx, node, x, kernel, strides, dil), pad_value)
        return x, (0,) * nd, tuple(kernel), strides, dil
    if begin == end and all(2 * p <= k for p, k in zip(begin, kernel)):
        return x, tuple(begin), tuple(kernel), strides, dil
    if attr(node, "ceil_mode") or not can_pre_pad:
        raise unsupported_attr("pads", list(begin) + list(end), "torch pooling pads symmetrically up to kernel/2")
    return _pre_pad(ctx, x, begin, end, pad_value), (0,) * nd, tuple(kernel), strides, dil


def _pool_fits(node, nd: int, can_pre_pad: bool) -> bool:
    """Whether ``_pool_padding`` can write the node's pads for a torch pooling layer."""
    _, _, begin, end = _spatial(node, nd)
    symmetric = begin == end and all(2 * p <= k for p, k in zip(begin, attr(node, "kernel_shape")))
    return symmetric or (can_pre_pad and not attr(node, "ceil_mode"))


@register("MaxPool")
def export_maxpool(ctx: TorchContext, node):
    nd = len(attr(node, "kernel_shape"))
    if nd not in (1, 2, 3) or (len(node.outputs) > 1 and node.outputs[1]):
        raise unsupported_attr("kernel_shape", attr(node, "kernel_shape"), "1-3 spatial axes, no indices output")
    x, padding, kernel, strides, dil = _pool_padding(node, ctx, ctx.x(node.inputs[0]), nd, float("-inf"), True)
    m = ctx.layer(node, f"nn.MaxPool{nd}d", [kernel], dict(stride=strides, padding=padding, dilation=dil,
                                                            ceil_mode=bool(attr(node, "ceil_mode"))))
    ctx.assign(node.outputs[0], f"{m}({x})")


@register("AveragePool")
def export_avgpool(ctx: TorchContext, node):
    nd = len(attr(node, "kernel_shape"))
    if nd not in (1, 2, 3):
        raise unsupported_attr("kernel_shape", attr(node, "kernel_shape"), "1-3 spatial axes")
    include = bool(attr(node, "count_include_pad"))
    x = ctx.x(node.inputs[0])
    if _same_upper(node) and not include and all(d == 1 for d in (attr(node, "dilations") or [])):
        # Pads left out of the count: the mean over the zero-padded window divided by the
        # share of the window that lies inside the input (the same pool over ones).
        kernel = tuple(attr(node, "kernel_shape"))
        strides, dil, _, _ = _spatial(node, nd)
        pads = _same_pads(ctx, node, x, kernel, strides, dil)
        m = ctx.layer(node, f"nn.AvgPool{nd}d", [kernel], dict(stride=strides))
        inside = _padded(ctx, f"torch.ones_like({x}[:1, :1])", pads)
        ctx.assign(node.outputs[0], f"{m}({_padded(ctx, x, pads)}) / {m}({inside})")
        return
    fits = all(d == 1 for d in (attr(node, "dilations") or [])) and _pool_fits(node, nd, include)
    if not fits:  # no dilation in torch's average pooling, and pads only up to kernel/2
        from .pool import export_avgpool_window

        return export_avgpool_window(ctx, node)
    x, padding, kernel, strides, _ = _pool_padding(node, ctx, x, nd, 0.0, include)
    m = ctx.layer(node, f"nn.AvgPool{nd}d", [kernel], dict(stride=strides, padding=padding,
                                                           ceil_mode=bool(attr(node, "ceil_mode")),
                                                           count_include_pad=include))
    ctx.assign(node.outputs[0], f"{m}({x})")


@register("GlobalAveragePool", "GlobalMaxPool")
def export_global_pool(ctx: TorchContext, node):
    rank = ctx.rank(node.inputs[0])
    kind = "Avg" if node.op == "GlobalAveragePool" else "Max"
    x = ctx.x(node.inputs[0])
    if rank in (3, 4, 5):
        m = ctx.layer(node, f"nn.Adaptive{kind}Pool{rank - 2}d", [1])
        ctx.assign(node.outputs[0], f"{m}({x})")
    else:  # rank unknown: the same reduction written out
        fn = "torch.mean" if kind == "Avg" else "torch.amax"
        ctx.assign(node.outputs[0], f"{fn}({x}, dim=tuple(range(2, {x}.dim())), keepdim=True)")


@register("BatchNormalization")
def export_batchnorm(ctx: TorchContext, node):
    scale, bias, mean, var = (_const(ctx, node, i, n) for i, n in enumerate(("scale", "B", "mean", "var"), 1))
    rank = ctx.rank(node.inputs[0])
    if rank not in (2, 3, 4, 5):
        raise unsupported_attr("input rank", rank, "BatchNorm1d/2d/3d need a known rank 2..5")
    nd = max(rank - 2, 1)
    state = {"weight": scale, "bias": bias, "running_mean": mean, "running_var": var,
             "num_batches_tracked": np.array(0, dtype=np.int64)}
    m = ctx.layer(node, f"nn.BatchNorm{nd}d", [int(scale.shape[0])], dict(eps=float(attr(node, "epsilon"))), state)
    ctx.assign(node.outputs[0], f"{m}({ctx.x(node.inputs[0])})")


@register("InstanceNormalization")
def export_instancenorm(ctx: TorchContext, node):
    scale, bias = _const(ctx, node, 1, "scale"), _const(ctx, node, 2, "B")
    rank = ctx.rank(node.inputs[0])
    if rank not in (3, 4, 5):
        raise unsupported_attr("input rank", rank, "InstanceNorm1d/2d/3d need a known rank 3..5")
    m = ctx.layer(node, f"nn.InstanceNorm{rank - 2}d", [int(scale.shape[0])],
                  dict(eps=float(attr(node, "epsilon")), affine=True), {"weight": scale, "bias": bias})
    ctx.assign(node.outputs[0], f"{m}({ctx.x(node.inputs[0])})")


@register("LayerNormalization")
def export_layernorm(ctx: TorchContext, node):
    scale, bias = _const(ctx, node, 1, "Scale"), _const(ctx, node, 2, "B")
    axis, rank = attr(node, "axis"), ctx.rank(node.inputs[0])
    n_norm = -axis if axis < 0 else (None if rank is None else rank - axis)
    if n_norm is None or scale.ndim != n_norm:
        raise unsupported_attr("axis", axis, "nn.LayerNorm needs Scale shaped like the normalised axes")
    state = {"weight": scale} if bias is None else {"weight": scale, "bias": bias}
    m = ctx.layer(node, "nn.LayerNorm", [tuple(int(d) for d in scale.shape)],
                  dict(eps=float(attr(node, "epsilon")), bias=bias is not None), state)
    ctx.assign(node.outputs[0], f"{m}({ctx.x(node.inputs[0])})")


@register("RMSNormalization")
def export_rmsnorm(ctx: TorchContext, node):
    axis, rank = attr(node, "axis"), ctx.rank(node.inputs[0])
    if axis >= 0 and rank is None:
        raise unsupported_attr("axis", axis, "a non-negative axis needs a known input rank")
    n_norm = -axis if axis < 0 else rank - axis
    eps, x = float(attr(node, "epsilon")), ctx.x(node.inputs[0])
    scale = ctx.weight(node.inputs[1])
    if scale is not None and scale.ndim == n_norm:
        m = ctx.layer(node, "nn.RMSNorm", [tuple(int(d) for d in scale.shape)], dict(eps=eps), {"weight": scale})
        ctx.assign(node.outputs[0], f"{m}({x})")
        return
    # a scale that broadcasts to the normalised axes (or is computed): the formula itself
    dims = tuple(range(-n_norm, 0))
    ctx.assign(node.outputs[0], f"{x} * torch.rsqrt(torch.mean({x} * {x}, dim={py(dims)}, keepdim=True) + {py(eps)})"
                                f" * {ctx.x(node.inputs[1])}")


@register("GroupNormalization")
def export_groupnorm(ctx: TorchContext, node):
    scale, bias = _const(ctx, node, 1, "scale"), _const(ctx, node, 2, "B")
    if scale is None or bias is None or scale.ndim != 1 or bias.shape != scale.shape:
        raise unsupported_attr("scale", node.inputs[1], "nn.GroupNorm needs per-channel scale and B")
    m = ctx.layer(node, "nn.GroupNorm", [int(attr(node, "num_groups")), int(scale.size)],
                  dict(eps=float(attr(node, "epsilon"))), {"weight": scale, "bias": bias})
    ctx.assign(node.outputs[0], f"{m}({ctx.x(node.inputs[0])})")


@register("LRN")
def export_lrn(ctx: TorchContext, node):
    m = ctx.layer(node, "nn.LocalResponseNorm", [int(attr(node, "size"))],
                  dict(alpha=float(attr(node, "alpha")), beta=float(attr(node, "beta")), k=float(attr(node, "bias"))))
    ctx.assign(node.outputs[0], f"{m}({ctx.x(node.inputs[0])})")


@register("MeanVarianceNormalization")
def export_mvn(ctx: TorchContext, node):
    x, axes = ctx.x(node.inputs[0]), tuple(attr(node, "axes"))
    d = ctx.tmp(node.name + "_centered")
    ctx.line(f"{d} = {x} - torch.mean({x}, dim={py(axes)}, keepdim=True)")
    if not attr(node, "normalize_variance"):
        ctx.assign(node.outputs[0], d)
        return
    var, eps = f"torch.mean({d} * {d}, dim={py(axes)}, keepdim=True)", py(float(attr(node, "epsilon")))
    den = f"(torch.sqrt({var}) + {eps})" if attr(node, "eps_after_sqrt") else f"torch.sqrt({var} + {eps})"
    ctx.assign(node.outputs[0], f"{d} / {den}")


@register("LpNormalization")
def export_lpnorm(ctx: TorchContext, node):
    x, axes, p, eps = ctx.x(node.inputs[0]), tuple(attr(node, "axes")), attr(node, "p"), float(attr(node, "epsilon"))
    if p not in (1, 2):
        raise unsupported_attr("p", p, "1 or 2")
    if attr(node, "eps_inside") and p == 2:
        ctx.assign(node.outputs[0], f"{x} / torch.sqrt(torch.sum({x} * {x}, dim={py(axes)}, keepdim=True) + {py(eps)})")
    else:
        norm = f"torch.linalg.vector_norm({x}, ord={p}, dim={py(axes)}, keepdim=True)"
        ctx.assign(node.outputs[0], f"{x} / torch.clamp({norm}, min={py(eps)})")


@register("Gemm")
def export_gemm(ctx: TorchContext, node):
    a, b_ = node.inputs[0], node.inputs[1]
    w = ctx.weight(b_)
    alpha, beta = float(attr(node, "alpha")), float(attr(node, "beta"))
    c = _const(ctx, node, 2, "C") if len(node.inputs) > 2 and node.inputs[2] in ctx.graph.weights else None
    c_is_bias = c is not None and (c.ndim == 1 or (c.ndim == 2 and c.shape[0] == 1))
    if w is None or attr(node, "transA") or alpha != 1.0 or (len(node.inputs) > 2 and node.inputs[2] and not c_is_bias):
        x = ctx.x(a)
        xa = f"{x}.t()" if attr(node, "transA") else x
        xb = f"{ctx.x(b_)}.t()" if attr(node, "transB") else ctx.x(b_)
        expr = f"{py(alpha)} * torch.matmul({xa}, {xb})" if alpha != 1.0 else f"torch.matmul({xa}, {xb})"
        if len(node.inputs) > 2 and node.inputs[2]:
            cc = ctx.x(node.inputs[2])
            expr += f" + {py(beta)} * {cc}" if beta != 1.0 else f" + {cc}"
        ctx.assign(node.outputs[0], expr)
        return
    weight = w if attr(node, "transB") else w.T
    state = {"weight": weight}  # a transposed view, not a copy: nn.Linear computes with any strides
    if c is not None:
        bias = (beta * c.reshape(-1)).astype(c.dtype) if beta != 1.0 else c.reshape(-1)
        state["bias"] = np.broadcast_to(bias, (weight.shape[0],)).copy()
    m = ctx.layer(node, "nn.Linear", [int(weight.shape[1]), int(weight.shape[0])], dict(bias=c is not None), state)
    ctx.assign(node.outputs[0], f"{m}({ctx.x(a)})")


@register("MatMul")
def export_matmul(ctx: TorchContext, node):
    w = ctx.weight(node.inputs[1])
    if w is None or w.ndim != 2:
        ctx.assign(node.outputs[0], f"torch.matmul({ctx.x(node.inputs[0])}, {ctx.x(node.inputs[1])})")
        return
    state = {"weight": w.T}  # a view, not a copy: nn.Linear computes with any strides
    out = node.outputs[0]
    add = bias_add_after(ctx, node, int(w.shape[1]))  # Dense on N-d inputs arrives as MatMul + Add: one nn.Linear
    if add is not None:
        add_node, bias = add
        state["bias"] = bias
        out = add_node.outputs[0]
    m = ctx.layer(node, "nn.Linear", [int(w.shape[0]), int(w.shape[1])], dict(bias=add is not None), state)
    ctx.assign(out, f"{m}({ctx.x(node.inputs[0])})")
