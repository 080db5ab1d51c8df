"""LiteRT builtin operators -> IR ops (NHWC values; convolutions and pooling wrapped in
Transposes to the IR's channels-first layout)."""
from __future__ import annotations

import numpy as np

from ...ir.windows import same_pads
from .context import FUSED, TFLiteImportContext as TFLiteContext, unsupported_attr
from .registry import register

_SAME = 0
UNARY = {"RELU": ("Relu", {}), "RELU6": ("Clip", {"min": 0.0, "max": 6.0}), "LOGISTIC": ("Sigmoid", {}),
         "TANH": ("Tanh", {}), "HARD_SWISH": ("HardSwish", {}), "EXP": ("Exp", {}), "LOG": ("Log", {}),
         "SQRT": ("Sqrt", {}), "ABS": ("Abs", {}), "NEG": ("Neg", {}), "ELU": ("Elu", {"alpha": 1.0}),
         "RELU_N1_TO_1": ("Clip", {"min": -1.0, "max": 1.0})}
BINARY = {"ADD": "Add", "SUB": "Sub", "MUL": "Mul", "DIV": "Div"}
REDUCE = {"MEAN": "ReduceMean", "REDUCE_MAX": "ReduceMax", "SUM": "ReduceSum", "REDUCE_MIN": "ReduceMin"}
# ops a fused activation adds after an op
FUSED_OPS = tuple(sorted({op for op, _ in FUSED.values()}))


def _pads(ctx: TFLiteContext, op, kernel, strides, dil) -> list[int]:
    """IR pads (begins, then ends) of a channels-last op over len(kernel) spatial axes."""
    if op.options.padding != _SAME:
        return [0] * (2 * len(kernel))
    spatial = ctx.shape(op.inputs[0])[1:1 + len(kernel)]
    if any(d < 0 for d in spatial):
        raise unsupported_attr("padding", "SAME", "SAME padding needs static spatial sizes")
    p = [same_pads(n, k, s, d) for n, k, s, d in zip(spatial, kernel, strides, dil)]
    return [b for b, _ in p] + [e for _, e in p]



@register("CONV_2D", "DEPTHWISE_CONV_2D", emits=("Conv", "Transpose", *FUSED_OPS))
def import_conv(ctx: TFLiteContext, node) -> None:
    o = node.options
    w = ctx.array(node.inputs[1])
    if w is None:
        raise unsupported_attr("filter", ctx.tensor(node.inputs[1]).name, "computed filters")
    strides, dil = [o.strideH, o.strideW], [o.dilationHFactor, o.dilationWFactor]
    if node.code == "CONV_2D":  # OHWI -> OIHW
        w, group = np.transpose(w, (0, 3, 1, 2)), ctx.shape(node.inputs[0])[3] // w.shape[3]
    else:  # 1HW(C*m) -> (C*m)1HW
        w, group = np.transpose(w, (3, 0, 1, 2)), ctx.shape(node.inputs[0])[3]
    ins = [ctx.to_nchw(ctx.value(node.inputs[0])), ctx.b.weight(ctx.tensor(node.inputs[1]).name, w)]
    if len(node.inputs) > 2 and node.inputs[2] >= 0:
        ins.append(ctx.value(node.inputs[2]))
    y = ctx.b.op("Conv", *ins, kernel_shape=list(w.shape[2:]), strides=strides, dilations=dil,
                 pads=_pads(ctx, node, w.shape[2:], strides, dil), group=int(group))
    ctx.set(node.outputs[0], ctx.activation(ctx.to_nhwc(y), o.fusedActivationFunction))


@register("MAX_POOL_2D", "AVERAGE_POOL_2D", emits=("MaxPool", "AveragePool", "Transpose", *FUSED_OPS))
def import_pool(ctx: TFLiteContext, node) -> None:
    o = node.options
    kernel, strides = [o.filterHeight, o.filterWidth], [o.strideH, o.strideW]
    attrs = dict(kernel_shape=kernel, strides=strides, pads=_pads(ctx, node, kernel, strides, [1, 1]))
    if node.code == "AVERAGE_POOL_2D":
        attrs["count_include_pad"] = 0  # LiteRT's SAME mean leaves the padding out
    y = ctx.b.op("MaxPool" if node.code == "MAX_POOL_2D" else "AveragePool", ctx.to_nchw(ctx.value(node.inputs[0])),
                 **attrs)
    ctx.set(node.outputs[0], ctx.activation(ctx.to_nhwc(y), o.fusedActivationFunction))


@register("FULLY_CONNECTED", emits=("Reshape", "Gemm", "MatMul", "Add", *FUSED_OPS))
def import_fully_connected(ctx: TFLiteContext, node) -> None:
    o = node.options
    w = ctx.array(node.inputs[1])
    if w is None or w.ndim != 2:
        raise unsupported_attr("weights", ctx.tensor(node.inputs[1]).name, "constant 2-D weights")
    x = ctx.value(node.inputs[0])
    rank = len(ctx.shape(node.inputs[0]))
    bias = len(node.inputs) > 2 and node.inputs[2] >= 0
    if rank != 2 and not o.keepNumDims:
        x = ctx.b.op("Reshape", x, shape=[-1, int(w.shape[1])])
    if rank == 2 or not o.keepNumDims:
        ins = [x, ctx.b.weight(ctx.tensor(node.inputs[1]).name, w)] + ([ctx.value(node.inputs[2])] if bias else [])
        y = ctx.b.op("Gemm", *ins, transB=1)
    else:
        y = ctx.b.op("MatMul", x, ctx.b.weight(ctx.tensor(node.inputs[1]).name, w.T))
        if bias:
            y = ctx.b.op("Add", y, ctx.value(node.inputs[2]))
    ctx.set(node.outputs[0], ctx.activation(y, o.fusedActivationFunction))


@register(*BINARY, emits={k: (v, *FUSED_OPS) for k, v in BINARY.items()})
def import_binary(ctx: TFLiteContext, node) -> None:
    y = ctx.b.op(BINARY[node.code], ctx.value(node.inputs[0]), ctx.value(node.inputs[1]))
    act = getattr(node.options, "fusedActivationFunction", 0) if node.options is not None else 0
    ctx.set(node.outputs[0], ctx.activation(y, act))


def _unary(code: str):
    def import_unary(ctx: TFLiteContext, node) -> None:
        ir_op, attrs = UNARY[code]
        ctx.set(node.outputs[0], ctx.b.op(ir_op, ctx.value(node.inputs[0]), **attrs))

    return import_unary


for _code in UNARY:
    register(_code, emits=(UNARY[_code][0],))(_unary(_code))


@register("LEAKY_RELU", emits=("LeakyRelu",))
def import_leaky_relu(ctx: TFLiteContext, node) -> None:
    ctx.set(node.outputs[0], ctx.b.op("LeakyRelu", ctx.value(node.inputs[0]), alpha=float(node.options.alpha)))


@register("SOFTMAX", emits=("Softmax",))
def import_softmax(ctx: TFLiteContext, node) -> None:
    if float(node.options.beta) != 1.0:
        raise unsupported_attr("beta", node.options.beta)
    ctx.set(node.outputs[0], ctx.b.op("Softmax", ctx.value(node.inputs[0]), axis=-1))


@register(*REDUCE, emits=REDUCE)
def import_reduce(ctx: TFLiteContext, node) -> None:
    axes = ctx.array(node.inputs[1])
    if axes is None:
        raise unsupported_attr("axes", ctx.tensor(node.inputs[1]).name, "constant axes")
    y = ctx.b.op(REDUCE[node.code], ctx.value(node.inputs[0]), axes=[int(a) for a in np.ravel(axes)],
                 keepdims=int(bool(node.options.keepDims)))
    ctx.set(node.outputs[0], y)


@register("RESHAPE", "SQUEEZE", "EXPAND_DIMS", emits=("Reshape",))
def import_reshape(ctx: TFLiteContext, node) -> None:
    out = list(ctx.shape(node.outputs[0]))
    if out.count(-1) > 1:
        raise unsupported_attr("shape", out, "one dynamic dimension at most")
    if out and out[0] == -1 and ctx.shape(node.inputs[0])[:1] == (-1,):
        out[0] = 0  # the dynamic batch, copied
    ctx.set(node.outputs[0], ctx.b.op("Reshape", ctx.value(node.inputs[0]), shape=out))


@register("CONCATENATION", emits=("Concat", *FUSED_OPS))
def import_concat(ctx: TFLiteContext, node) -> None:
    y = ctx.b.op("Concat", *[ctx.value(t) for t in node.inputs], axis=int(node.options.axis))
    ctx.set(node.outputs[0], ctx.activation(y, node.options.fusedActivationFunction))


@register("PAD", "PADV2", emits=("Pad",))
def import_pad(ctx: TFLiteContext, node) -> None:
    pads = ctx.array(node.inputs[1])
    if pads is None:
        raise unsupported_attr("paddings", ctx.tensor(node.inputs[1]).name, "constant paddings")
    value = 0.0
    if node.code == "PADV2":
        v = ctx.array(node.inputs[2])
        value = float(np.ravel(v)[0]) if v is not None else 0.0
    pads = np.asarray(pads).reshape(-1, 2)
    ctx.set(node.outputs[0], ctx.b.op("Pad", ctx.value(node.inputs[0]),
                                    pads=[int(p) for p in pads[:, 0]] + [int(p) for p in pads[:, 1]], value=value))


@register("TRANSPOSE", emits=("Transpose",))
def import_transpose(ctx: TFLiteContext, node) -> None:
    perm = ctx.array(node.inputs[1])
    if perm is None:
        raise unsupported_attr("perm", ctx.tensor(node.inputs[1]).name, "a constant permutation")
    ctx.set(node.outputs[0], ctx.b.op("Transpose", ctx.value(node.inputs[0]), perm=[int(p) for p in perm]))


@register("DEQUANTIZE", emits=())  # a constant
def import_dequantize(ctx: TFLiteContext, node) -> None:
    arr = ctx.array(node.inputs[0])
    if arr is None:
        raise unsupported_attr("input", ctx.tensor(node.inputs[0]).name, "only constant weights are dequantized")
    ctx.consts[node.outputs[0]] = arr


def _axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


@register("SPLIT", emits=('Split',))
def import_split(ctx: TFLiteContext, node) -> None:
    axis = ctx.array(node.inputs[0])
    if axis is None:
        raise unsupported_attr("axis", ctx.tensor(node.inputs[0]).name, "a constant axis")
    outs = ctx.b.node("Split", [ctx.value(node.inputs[1])],
                      {"axis": _axis(int(np.ravel(axis)[0]), len(ctx.shape(node.inputs[1])))}, outputs=len(node.outputs))
    for t, v in zip(node.outputs, outs):
        ctx.set(t, v)


@register("UNPACK", emits=('Split', 'Squeeze'))
def import_unpack(ctx: TFLiteContext, node) -> None:
    """UNPACK as Split into unit slices, each squeezed."""
    axis = _axis(int(node.options.axis), len(ctx.shape(node.inputs[0])))
    parts = ctx.b.node("Split", [ctx.value(node.inputs[0])], {"axis": axis}, outputs=len(node.outputs))
    for t, v in zip(node.outputs, parts):
        ctx.set(t, ctx.b.op("Squeeze", v, axes=[axis]))


@register("PACK", emits=('Unsqueeze', 'Concat'))
def import_pack(ctx: TFLiteContext, node) -> None:
    """PACK as each input unsqueezed, then one Concat."""
    axis = _axis(int(node.options.axis), len(ctx.shape(node.inputs[0])) + 1)
    parts = [ctx.b.op("Unsqueeze", ctx.value(t), axes=[axis]) for t in node.inputs]
    ctx.set(node.outputs[0], parts[0] if len(parts) == 1 else ctx.b.op("Concat", *parts, axis=axis))


_TO_END = 2**63 - 1


@register("STRIDED_SLICE", emits=('Slice', 'Identity', 'Squeeze'))
def import_strided_slice(ctx: TFLiteContext, node) -> None:
    o = node.options
    for mask in ("ellipsisMask", "newAxisMask"):
        if getattr(o, mask, 0):
            raise unsupported_attr(mask, getattr(o, mask))
    shrink = int(getattr(o, "shrinkAxisMask", 0) or 0)
    if getattr(o, "offset", False):
        raise unsupported_attr("offset", True)
    begin, end, stride = (ctx.array(t) for t in node.inputs[1:4])
    if begin is None or end is None or stride is None:
        raise unsupported_attr("begin/end/strides", ctx.tensor(node.inputs[1]).name, "constant bounds")
    starts, ends, axes, steps = [], [], [], []
    for i, (b, e, s) in enumerate(zip(np.ravel(begin), np.ravel(end), np.ravel(stride))):
        b_all, e_all, s = bool(o.beginMask >> i & 1), bool(o.endMask >> i & 1), int(s)
        if shrink >> i & 1:  # one index, its axis dropped below
            b_all, e_all, s, e = False, False, 1, (int(b) + 1) or _TO_END
        if b_all and e_all and s == 1:
            continue  # the whole axis
        # a masked bound runs to the end in the step's direction (INT64 max/min, clamped)
        starts.append((_TO_END if s < 0 else 0) if b_all else int(b))
        ends.append((-_TO_END - 1 if s < 0 else _TO_END) if e_all else int(e))
        axes.append(i)
        steps.append(s)
    x = ctx.value(node.inputs[0])
    y = ctx.b.op("Slice", x, starts=starts, ends=ends, axes=axes, steps=steps) if axes else ctx.b.op("Identity", x)
    dropped = [i for i in range(len(np.ravel(begin))) if shrink >> i & 1]
    ctx.set(node.outputs[0], ctx.b.op("Squeeze", y, axes=dropped) if dropped else y)


# UNIDIRECTIONAL_SEQUENCE_LSTM operands: input, 4 input and 4 recurrent weights (gates i, f, c, o),
# 3 peepholes, 4 biases, projection weights and bias, output and cell state, 4 layer norms
_LSTM_UNSUPPORTED = {9: "cell_to_input_weights", 10: "cell_to_forget_weights", 11: "cell_to_output_weights",
                     16: "projection_weights", 17: "projection_bias", 20: "input_layer_norm",
                     21: "forget_layer_norm", 22: "cell_layer_norm", 23: "output_layer_norm"}
_TFLITE_TO_IR_GATES = (0, 3, 1, 2)  # i, f, c, o -> the IR's i, o, f, c
_TANH = 4


@register("UNIDIRECTIONAL_SEQUENCE_LSTM", emits=('Transpose', 'LSTM', 'Squeeze'))
def import_sequence_lstm(ctx: TFLiteContext, node) -> None:
    """One IR LSTM node, zero initial states; the sequence output squeezed to (..., hidden)."""
    o = node.options
    ins = list(node.inputs) + [-1] * (24 - len(node.inputs))
    for k, name in _LSTM_UNSUPPORTED.items():
        if ins[k] >= 0:
            raise unsupported_attr(name, ctx.tensor(ins[k]).name, "plain LSTM cells only")
    if o.fusedActivationFunction != _TANH or o.cellClip or o.projClip:
        raise unsupported_attr("activation/clip", [o.fusedActivationFunction, o.cellClip, o.projClip],
                               "tanh cells without clipping")
    weights = [ctx.array(ins[k]) for k in range(1, 9)]
    if any(w is None for w in weights):
        raise unsupported_attr("weights", [ctx.tensor(ins[k]).name for k in range(1, 9) if ins[k] >= 0],
                               "all eight gate weights constant (no coupled input gate)")
    for k in (18, 19):
        state = ctx.tensor(ins[k]) if ins[k] >= 0 else None
        if state is not None and state.data is not None and np.any(state.data):
            raise unsupported_attr("initial_state", state.name, "zero initial states")
    hidden = int(weights[4].shape[0])
    biases = [ctx.array(ins[k]) if ins[k] >= 0 else None for k in range(12, 16)]
    biases = [np.zeros(hidden, np.float32) if b is None else b for b in biases]
    w = np.concatenate([weights[k] for k in _TFLITE_TO_IR_GATES])[None]
    r = np.concatenate([weights[4 + k] for k in _TFLITE_TO_IR_GATES])[None]
    b = np.concatenate([biases[k] for k in _TFLITE_TO_IR_GATES] + [np.zeros(4 * hidden, np.float32)])[None]
    name = ctx.tensor(node.outputs[0]).name
    x = ctx.value(ins[0])
    # time-major (layout 0), the form every IR consumer runs; batch-major files are transposed
    x = x if o.timeMajor else ctx.b.op("Transpose", x, perm=[1, 0, 2])
    (y,) = ctx.b.node("LSTM", [x, ctx.b.weight(f"{name}/W", w), ctx.b.weight(f"{name}/R", r),
                               ctx.b.weight(f"{name}/B", b)], {"hidden_size": hidden})
    y = ctx.b.op("Squeeze", y, axes=[1])
    ctx.set(node.outputs[0], y if o.timeMajor else ctx.b.op("Transpose", y, perm=[1, 0, 2]))
