"""Layers: convolution, pooling, normalisation, dense, recurrent, dropout."""
from __future__ import annotations

import math

from ....errors import UnsupportedAttributeError
from ....ir.windows import conv_out_size, conv_window
from ..context import DataDependent
from ..registry import register
from .common import check_defaults, ir_attrs, register_same, same
from .norm import layernorm_stats

register_same(register, ["Gemm", "MatMul", "GlobalAveragePool", "GlobalMaxPool", "LRN", "InstanceNormalization", "Det"])


def _spatial(ctx, what: str) -> list[int]:
    shape = ctx.shape(0)
    if shape is None or not all(isinstance(d, int) for d in shape[2:]):
        raise DataDependent("auto_pad", ctx.attr("auto_pad"), f"{what} needs static spatial input sizes")
    return list(shape[2:])


def _kernel(ctx, w_index: int = 1) -> list[int]:
    k = ctx.attr("kernel_shape")
    if k is not None:
        return [int(v) for v in k]
    w = ctx.maybe_const(w_index)
    shape = tuple(w.shape) if w is not None else ctx.shape(w_index)
    if shape is None or not all(isinstance(d, int) for d in shape[2:]):
        raise DataDependent("kernel_shape", None, "not given and the weight shape is unknown")
    return list(shape[2:])


def _same_pads(ins: list[int], kernel: list[int], strides: list[int], dilations: list[int], upper: bool) -> list[int]:
    begin, end = [], []
    for i, k, s, d in zip(ins, kernel, strides, dilations):
        out = -(-i // s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - i)
        small, big = total // 2, total - total // 2
        begin.append(small if upper else big)
        end.append(big if upper else small)
    return begin + end


def resolve_pads(ctx, kernel: list[int]) -> list[int] | None:
    """Explicit pads for every ``auto_pad`` mode."""
    auto = ctx.attr("auto_pad", "NOTSET")
    n = len(kernel)
    if auto in ("NOTSET", ""):
        pads = ctx.attr("pads")
        return [int(p) for p in pads] if pads is not None else None
    if auto == "VALID":
        return [0] * (2 * n)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        strides = list(ctx.attr("strides") or [1] * n)
        dil = list(ctx.attr("dilations") or [1] * n)
        return _same_pads(_spatial(ctx, auto), kernel, strides, dil, auto == "SAME_UPPER")
    raise UnsupportedAttributeError("auto_pad", auto, "NOTSET, VALID, SAME_UPPER or SAME_LOWER")


@register("Conv")
def import_conv(ctx, node):
    kernel = _kernel(ctx)
    same(ctx, node, drop=("auto_pad",), kernel_shape=kernel, pads=resolve_pads(ctx, kernel))


def _deform_output(ctx, kernel: list[int], window: dict) -> list:
    """Conv's output size per spatial axis where the input's is known (else None)."""
    n, x = len(kernel), ctx.shape(0)
    sizes = list(x[2:]) if x is not None and len(x) == n + 2 else [None] * n
    pads, strides, dilations = window["pads"], window["strides"], window["dilations"]
    return [conv_out_size(size, kernel[a], strides[a], dilations[a], pads[a], pads[n + a])
            if isinstance(size, int) else None for a, size in enumerate(sizes)]


@register("DeformConv")
def import_deform_conv(ctx, node):
    """Any number of spatial axes. The output size comes from offset's shape, so nothing
    downstream would catch a kernel, stride or offset layout that disagrees with it."""
    for key in ("group", "offset_group"):
        if int(ctx.attr(key, 1)) < 1:
            raise UnsupportedAttributeError(key, ctx.attr(key), "a positive number of groups")
    kernel = _kernel(ctx)
    n = len(kernel)
    w = ctx.maybe_const(1)
    w = tuple(w.shape) if w is not None else ctx.shape(1)
    if min(kernel, default=0) < 1 or (w is not None and list(w[2:]) != kernel and
                                      all(isinstance(d, int) for d in w[2:])):
        raise UnsupportedAttributeError("kernel_shape", kernel, "positive sizes, W's spatial shape")
    out = _deform_output(ctx, kernel, conv_window(ctx.attr, n))
    taps = math.prod(kernel) * int(ctx.attr("offset_group", 1))
    for i, name, channels in ((2, "offset", taps * n), (4, "mask", taps)):
        shape = ctx.shape(i) if ctx.has(i) else None
        if shape is not None and (len(shape) != n + 2 or isinstance(shape[1], int) and shape[1] != channels or any(
                isinstance(d, int) and o is not None and d != o for d, o in zip(shape[2:], out))):
            want = ", ".join("*" if o is None else str(o) for o in out)
            raise UnsupportedAttributeError(name, list(shape), f"(N, {channels}, {want}) for a {n}-D kernel")
    same(ctx, node, kernel_shape=kernel)


@register("ConvInteger", "QLinearConv")
def import_integer_conv(ctx, node):
    """Integer convolutions keep every operand (scales and zero points may be inputs too)."""
    kernel = _kernel(ctx, 3 if node.op_type == "QLinearConv" else 1)
    same(ctx, node, drop=("auto_pad",), kernel_shape=kernel, pads=resolve_pads(ctx, kernel))


@register("ConvTranspose")
def import_conv_transpose(ctx, node):
    kernel = _kernel(ctx)
    n = len(kernel)
    strides = list(ctx.attr("strides") or [1] * n)
    dil = list(ctx.attr("dilations") or [1] * n)
    out_pad = list(ctx.attr("output_padding") or [0] * n)
    auto = ctx.attr("auto_pad", "NOTSET")
    target = ctx.attr("output_shape")
    pads = ctx.attr("pads")
    if target is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
        ins = _spatial(ctx, "output_shape" if target is not None else auto)
        target = list(target)[-n:] if target is not None else [i * s for i, s in zip(ins, strides)]
        begin, end = [], []
        for k in range(n):
            full = strides[k] * (ins[k] - 1) + out_pad[k] + (kernel[k] - 1) * dil[k] + 1
            total = full - target[k]
            if total < 0:  # the requested size is beyond the full output: grow it at the end
                out_pad[k] -= total
                total = 0
            small, big = total // 2, total - total // 2
            upper = auto == "SAME_UPPER"
            begin.append(small if upper else big)
            end.append(big if upper else small)
        pads = begin + end
    elif auto == "VALID":
        pads = [0] * (2 * n)
    same(ctx, node, drop=("auto_pad", "output_shape"), kernel_shape=kernel, pads=pads,
         output_padding=out_pad if any(out_pad) else None)


@register("AveragePool", "LpPool")
def import_pool(ctx, node):
    kernel = [int(k) for k in ctx.attr("kernel_shape")]
    check_defaults(ctx, ["storage_order"])
    same(ctx, node, drop=("auto_pad", "storage_order"), pads=resolve_pads(ctx, kernel))


@register("MaxPool", emits=("MaxPoolWithIndices",))
def import_maxpool(ctx, node):
    """With its Indices output read: the IR's MaxPoolWithIndices (storage_order kept)."""
    if not ctx.uses(1):
        return import_pool(ctx, node)
    kernel = [int(k) for k in ctx.attr("kernel_shape")]
    same(ctx, node, "MaxPoolWithIndices", drop=("auto_pad",), pads=resolve_pads(ctx, kernel))


@register("MaxUnpool", emits=("Expand", "Reshape", "ScatterElements"))
def import_max_unpool(ctx, node):
    """MaxPool's values written back at its Indices (flat positions over the whole output,
    as MaxPool counts them) in zeros of the unpooled shape: a 1-D ScatterElements."""
    import numpy as np

    shape = ctx.shape(0)
    if shape is None or not all(isinstance(d, int) for d in shape):
        raise DataDependent("X", ctx.name(0), "MaxUnpool needs a static input shape")
    kernel = [int(k) for k in ctx.attr("kernel_shape")]
    n = len(kernel)
    strides = [int(s) for s in ctx.attr("strides") or [1] * n]
    pads = [int(p) for p in ctx.attr("pads") or [0] * (2 * n)]
    out = list(shape[:2]) + [(i - 1) * s - pads[k] - pads[n + k] + kk
                             for k, (i, s, kk) in enumerate(zip(shape[2:], strides, kernel))]
    if ctx.has(2):
        wanted = [int(d) for d in ctx.const(2, "output_shape").reshape(-1)]
        if wanted != out:  # the reference pads the inferred result, onnxruntime indexes the larger one
            raise UnsupportedAttributeError("output_shape", wanted, f"the inferred shape {out} (ONNX's "
                                            "reference and onnxruntime place the indices differently otherwise)")
    zero = ctx.b.weight(f"{ctx.name(0)}/zero", np.zeros((), dtype=ctx.dtype(0) or "float32"))
    flat = ctx.tmp("ScatterElements", [ctx.tmp("Expand", [zero], shape=[int(np.prod(out))]),
                                       ctx.tmp("Reshape", [ctx.x(1)], shape=[-1]),
                                       ctx.tmp("Reshape", [ctx.x(0)], shape=[-1])], axis=0)
    ctx.emit("Reshape", [flat], {"shape": out})


@register("LayerNormalization", emits=("Add", "Mul", "Reciprocal", "ReduceMean", "Sqrt", "Sub"))
def import_layernorm(ctx, node):
    same(ctx, node, drop=("stash_type",), outputs=[0])
    if ctx.uses(1) or ctx.uses(2):
        layernorm_stats(ctx)


@register("RMSNormalization")
def import_rmsnorm(ctx, node):
    # stash_type only names the precision of the statistics: every target computes them in
    # the input's float type or wider.
    same(ctx, node, drop=("stash_type",))


@register("ConstantOfShape", emits=())
def import_constant_of_shape(ctx, node):
    """A shape known only at run time: kept as a fill that data movement carries to its reader."""
    import numpy as np
    from onnx import numpy_helper

    ctx.dims(0, "shape")  # symbolic (a constant shape was folded before)
    value = ctx.attr("value")
    value = numpy_helper.to_array(value) if value is not None and hasattr(value, "data_type") else value
    ctx.fills[node.output[0]] = np.asarray(value if value is not None else 0.0).reshape(-1)[0].item()


@register("Dropout", emits=("IsNaN", "Not", "Or"))
def import_dropout(ctx, node):
    """Inference, or training with ratio 0: the identity, and a mask that keeps everything
    (true everywhere, of x's shape, as IsNaN(x) or not IsNaN(x)). Training with another
    ratio is random and refused."""
    training = ctx.maybe_const(2)
    if ctx.has(2) and (training is None or bool(training.reshape(()))):
        ratio = ctx.maybe_const(1) if ctx.has(1) else None
        if ratio is None or float(ratio.reshape(())) != 0.0:
            raise UnsupportedAttributeError("training_mode", ctx.name(2), "dropout in training mode is random")
    ctx.alias(0, ctx.x(0))
    if ctx.uses(1):
        nan = ctx.tmp("IsNaN", [ctx.x(0)])
        ctx.emit("Or", [nan, ctx.tmp("Not", [nan])], outputs=[1])


@register("LSTM", "GRU", "RNN")
def import_rnn(ctx, node):
    """The IR's recurrent ops are ONNX's (gate order, layouts, directions)."""
    check_defaults(ctx, ["activation_alpha", "activation_beta"])
    if ctx.attr("hidden_size") is None:
        w = ctx.maybe_const(1)
        gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[node.op_type]
        if w is None:
            raise DataDependent("hidden_size", None, "not given and W is not a constant")
        ctx.attrs["hidden_size"] = int(w.shape[1]) // gates
    # torch.onnx writes the default zero state as ConstantOfShape(batch-dependent shape): absent
    inputs = ["" if i in (5, 6) and ctx.fills.get(ctx.name(i), 1) == 0 else ctx.x(i) for i in range(len(node.input))]
    while inputs and not inputs[-1]:
        inputs.pop()
    ctx.emit(node.op_type, inputs, ir_attrs(ctx, node.op_type, ("activation_alpha", "activation_beta")))


@register("GroupNormalization", since=21)
def import_groupnorm(ctx, node):
    same(ctx, node, drop=("stash_type",))


@register("GroupNormalization")
def import_groupnorm_per_group(ctx, node):
    """Opsets 18-20 scale and shift per group; the IR (opset 21) per channel: each group's
    value is repeated over its channels (constants only)."""
    import numpy as np

    groups = int(ctx.attr("num_groups"))
    shape = ctx.shape(0)
    c = shape[1] if shape is not None and len(shape) > 1 else None
    scale, bias = ctx.maybe_const(1), ctx.maybe_const(2)
    if not isinstance(c, int) or scale is None or bias is None or c % groups:
        raise DataDependent("scale", ctx.name(1), "opset-18 GroupNormalization needs constant scale/bias and a "
                            "known channel count (or opset 21)")
    name = ctx.name(0) or "group_norm"
    per = c // groups
    ins = [ctx.x(0), ctx.b.weight(f"{name}/scale", np.repeat(np.asarray(scale, np.float32).reshape(-1), per)),
           ctx.b.weight(f"{name}/bias", np.repeat(np.asarray(bias, np.float32).reshape(-1), per))]
    ctx.emit("GroupNormalization", ins, {"num_groups": groups, "epsilon": float(ctx.attr("epsilon", 1e-5))})


_INT64_MAX = 2**63 - 1


@register("CausalConvWithState", emits=("Concat", "Conv", "Pad", "Silu", "Slice"))
def import_causal_conv_with_state(ctx, node):
    """Opset 27's fused causal depthwise Conv1d with a carried state, as the pattern it
    replaces: the past k-1 positions (past_state, else zeros) joined before the input, a
    depthwise Conv with no padding (then SiLU where asked), and the last k-1 positions of
    the joined sequence as present_state."""
    w = ctx.maybe_const(1)
    shape = tuple(w.shape) if w is not None else ctx.shape(1)
    if shape is None or len(shape) != 3 or not all(isinstance(d, int) for d in shape):
        raise DataDependent("weight", ctx.name(1), "a static (channels, 1, k) depthwise weight shape")
    channels, k = int(shape[0]), int(shape[2])
    act = ctx.attr("activation", "none")
    if act not in ("none", "silu", "swish"):
        raise UnsupportedAttributeError("activation", act, "silu, swish or none")
    x = ctx.x(0)
    if ctx.has(3):
        joined = ctx.tmp("Concat", [ctx.x(3), x], axis=2)
    else:
        joined = ctx.tmp("Pad", [x], pads=[0, 0, k - 1, 0, 0, 0]) if k > 1 else x
    conv_in = [joined, ctx.x(1)] + ([ctx.x(2)] if ctx.has(2) else [])
    if act == "none":
        ctx.emit("Conv", conv_in, {"kernel_shape": [k], "group": channels}, outputs=[0])
    else:
        ctx.emit("Silu", [ctx.tmp("Conv", conv_in, kernel_shape=[k], group=channels)], outputs=[0])
    if ctx.uses(1):  # k = 1 keeps no state: an empty slice
        start = [-(k - 1)] if k > 1 else [_INT64_MAX]
        ctx.emit("Slice", [joined], {"starts": start, "ends": [_INT64_MAX], "axes": [2]}, outputs=[1])
