"""Handlers per Chainer FunctionNode class: convolution, linear, pooling, normalisation,
activations, arithmetic, shape functions and the LSTM cell. Pure numpy + IR: these run in
Chainer's interpreter during the walk."""
from __future__ import annotations

import numpy as np

from ...errors import UnsupportedAttributeError
from ...ir.optable.rnn import GATE_ORDER
from .registry import register
from .walk import FnContext


def _pair(v) -> list[int]:
    return [int(v), int(v)] if np.isscalar(v) else [int(a) for a in v]


@register("Convolution2DFunction", emits=("Conv",))
def import_convolution_2d(ctx: FnContext, node):
    if ctx.attr("cover_all"):
        raise UnsupportedAttributeError("cover_all", True, "convolution over a partial last window")
    w = ctx.array(1)
    ins = [ctx.x(0), ctx.weight("W", w)] + ([ctx.weight("b", ctx.array(2))] if ctx.n_inputs > 2 else [])
    ph, pw = ctx.attr("ph"), ctx.attr("pw")
    ctx.out("Conv", ins, kernel_shape=list(w.shape[2:]), strides=[ctx.attr("sy"), ctx.attr("sx")],
            dilations=[ctx.attr("dy", 1), ctx.attr("dx", 1)], pads=[ph, pw, ph, pw], group=ctx.attr("groups", 1))


@register("LinearFunction", emits=("Gemm",))
def import_linear(ctx: FnContext, node):
    # W may be computed from stored arrays (NStepLSTM concatenates its gate weights):
    # constant folding turns such a subgraph back into one weight
    ins = [ctx.x(i) for i in range(ctx.n_inputs)]
    if len(ctx.shape(0)) != 2:
        raise UnsupportedAttributeError("input rank", len(ctx.shape(0)), "linear takes (batch, features)")
    ctx.out("Gemm", ins, transB=1)


def _pool_pads(ctx: FnContext, k, s, p) -> list[int]:
    """Begin pads, then end pads extended so ONNX's floor formula gives Chainer's size
    (``cover_all`` rounds up)."""
    out = ctx.out_shape()[2:]
    end = [max((o - 1) * si + ki - i - pi, 0) for i, ki, si, pi, o in zip(ctx.shape(0)[2:], k, s, p, out)]
    return p + end


@register("MaxPoolingND", "MaxPooling2D", emits=("MaxPool",))
def import_max_pooling(ctx: FnContext, node):
    if len(ctx.shape(0)) != 4:
        raise UnsupportedAttributeError("input rank", len(ctx.shape(0)), "2-D pooling")
    k = _pair(ctx.attr("ksize", (ctx.attr("kh"), ctx.attr("kw"))))
    s = _pair(ctx.attr("stride", (ctx.attr("sy"), ctx.attr("sx"))))
    p = _pair(ctx.attr("pad", (ctx.attr("ph"), ctx.attr("pw"))))
    ctx.out("MaxPool", [ctx.x(0)], kernel_shape=k, strides=s, pads=_pool_pads(ctx, k, s, p))


@register("AveragePooling2D", emits=("AveragePool",))
def import_average_pooling(ctx: FnContext, node):
    if ctx.attr("cover_all"):
        raise UnsupportedAttributeError("cover_all", True, "average over a partial last window")
    k, s, p = [ctx.attr("kh"), ctx.attr("kw")], [ctx.attr("sy"), ctx.attr("sx")], [ctx.attr("ph"), ctx.attr("pw")]
    # Chainer pads with zeros and always divides by the kernel area
    ctx.out("AveragePool", [ctx.x(0)], kernel_shape=k, strides=s, pads=p + p, count_include_pad=1)


@register("FixedBatchNormalization", emits=("BatchNormalization",))
def import_fixed_batch_norm(ctx: FnContext, node):
    axis = ctx.attr("axis")
    rank = len(ctx.shape(0))
    if axis is not None and tuple(a % rank for a in axis) != (0, *range(2, rank)):
        raise UnsupportedAttributeError("axis", axis, "statistics per channel (axis 1)")
    ws = [ctx.weight(k, ctx.array(i)) for i, k in ((1, "gamma"), (2, "beta"), (3, "mean"), (4, "var"))]
    ctx.out("BatchNormalization", [ctx.x(0), *ws], epsilon=float(ctx.attr("eps")))


@register("LocalResponseNormalization", emits=("LRN",))
def import_lrn(ctx: FnContext, node):
    n = int(ctx.attr("n"))
    # Chainer: x / (k + alpha * sum of squares)^beta; ONNX divides alpha by the size
    ctx.out("LRN", [ctx.x(0)], size=n, alpha=float(ctx.attr("alpha")) * n, beta=float(ctx.attr("beta")),
            bias=float(ctx.attr("k")))


@register("ReLU", emits=("Relu",))
def import_relu(ctx, node):
    ctx.out("Relu", [ctx.x(0)])


@register("Sigmoid", emits=("Sigmoid",))
def import_sigmoid(ctx, node):
    ctx.out("Sigmoid", [ctx.x(0)])


@register("Tanh", emits=("Tanh",))
def import_tanh(ctx, node):
    ctx.out("Tanh", [ctx.x(0)])


@register("LeakyReLU", emits=("LeakyRelu",))
def import_leaky_relu(ctx, node):
    ctx.out("LeakyRelu", [ctx.x(0)], alpha=float(ctx.attr("slope")))


@register("Softmax", emits=("Softmax",))
def import_softmax(ctx, node):
    ctx.out("Softmax", [ctx.x(0)], axis=int(ctx.attr("axis", 1)))


@register("Add", emits=("Add",))
def import_add(ctx, node):
    ctx.out("Add", [ctx.x(0), ctx.x(1)])


@register("Sub", emits=("Sub",))
def import_sub(ctx, node):
    ctx.out("Sub", [ctx.x(0), ctx.x(1)])


@register("Mul", emits=("Mul",))
def import_mul(ctx, node):
    ctx.out("Mul", [ctx.x(0), ctx.x(1)])


@register("AddConstant", emits=("Add",))
def import_add_constant(ctx, node):
    ctx.out("Add", [ctx.x(0), ctx.weight("value", np.float32(ctx.attr("value")))])


@register("MulConstant", emits=("Mul",))
def import_mul_constant(ctx, node):
    ctx.out("Mul", [ctx.x(0), ctx.weight("value", np.float32(ctx.attr("value")))])


@register("Concat", emits=("Concat",))
def import_concat(ctx, node):
    ctx.out("Concat", [ctx.x(i) for i in range(ctx.n_inputs)], axis=int(ctx.attr("axis")) % len(ctx.shape(0)))


@register("Reshape", emits=("Reshape",))
def import_reshape(ctx, node):
    ctx.out("Reshape", [ctx.x(0)], shape=list(ctx.out_shape()))


@register("Transpose", emits=("Transpose",))
def import_transpose(ctx, node):
    axes = ctx.attr("axes") or tuple(range(len(ctx.shape(0))))[::-1]
    ctx.out("Transpose", [ctx.x(0)], perm=[int(a) for a in axes])


@register("LSTM", emits=("Add", "Mul", "Reshape", "Sigmoid", "Split", "Squeeze", "Tanh"))
def import_lstm_cell(ctx: FnContext, node):
    """chainer.functions.lstm: inputs c_prev (B, H) and x (B, 4H) whose gates are
    interleaved per unit, x.reshape(B, H, 4) = (a, i, f, o); outputs c and h."""
    b, h = ctx.shape(0)
    gates = ctx.op("Reshape", ctx.x(1), shape=[b, h, 4])
    parts = ctx.b.node("Split", [gates], dict(axis=2, split=[1, 1, 1, 1]), name=f"{ctx.name}/gates", outputs=4)
    gate = dict(zip(GATE_ORDER["chainer"]["LSTM"], (ctx.op("Squeeze", p, axes=[2]) for p in parts)))
    a, i, f, o = gate["c"], gate["i"], gate["f"], gate["o"]
    a = ctx.op("Tanh", a)
    i, f, o = (ctx.op("Sigmoid", g) for g in (i, f, o))
    c = ctx.out("Add", [ctx.op("Mul", a, i), ctx.op("Mul", f, ctx.x(0))], index=0)
    ctx.out("Mul", [o, ctx.op("Tanh", c)], index=1)


@register("GetItem", emits=("Slice", "Squeeze"))
def import_get_item(ctx: FnContext, node):
    """x[...] with ints and slices (x[:, t] in recurrent loops)."""
    slices = ctx.attr("slices")
    slices = slices if isinstance(slices, tuple) else (slices,)
    shape = ctx.shape(0)
    starts, ends, axes, steps, drop = [], [], [], [], []
    for axis, s in enumerate(slices):
        if isinstance(s, (int, np.integer)):
            k = int(s) % shape[axis]
            starts.append(k), ends.append(k + 1), axes.append(axis), steps.append(1), drop.append(axis)
        elif isinstance(s, slice):
            if s == slice(None):
                continue
            a, b, st = s.indices(shape[axis])
            if st <= 0:
                raise UnsupportedAttributeError("slices", repr(s), "negative steps")
            starts.append(a), ends.append(b), axes.append(axis), steps.append(st)
        else:
            raise UnsupportedAttributeError("slices", repr(s), "ints and slices only")
    x = ctx.x(0)
    if not drop:
        ctx.out("Slice", [x], starts=starts, ends=ends, axes=axes, steps=steps)
        return
    ctx.out("Squeeze", [ctx.op("Slice", x, starts=starts, ends=ends, axes=axes, steps=steps)], axes=drop)


@register("Separate", emits=("Split", "Squeeze"))
def import_separate(ctx: FnContext, node):
    """F.separate: one output per index along ``axis``, that axis dropped."""
    shape, axis = ctx.shape(0), ctx.attr("axis") % len(ctx.shape(0))
    n = shape[axis]
    parts = ctx.b.node("Split", [ctx.x(0)], dict(axis=axis, split=[1] * n), name=f"{ctx.name}/split", outputs=n)
    for k, p in enumerate(parts):
        ctx.out("Squeeze", [p], index=k, axes=[axis])


@register("Stack", emits=("Concat", "Unsqueeze"))
def import_stack(ctx: FnContext, node):
    rank = len(ctx.shape(0)) + 1
    axis = ctx.attr("axis") % rank
    ups = [ctx.op("Unsqueeze", ctx.x(i), axes=[axis]) for i in range(ctx.n_inputs)]
    ctx.out("Concat", ups, axis=axis)


@register("Permutate", emits=("Gather",))
def import_permutate(ctx: FnContext, node):
    idx = np.asarray(ctx.attr("indices"), np.int64)
    if ctx.attr("inv"):
        idx = np.argsort(idx)
    axis = ctx.attr("axis") % len(ctx.shape(0))
    ctx.out("Gather", [ctx.x(0), ctx.weight("indices", idx, "int64")], axis=axis)


@register("TransposeSequence", emits=("Concat", "Split", "Squeeze", "Unsqueeze"))
def import_transpose_sequence(ctx: FnContext, node):
    """A batch of sequences -> a sequence of batches (NStepLSTM's input); equal lengths only."""
    shapes = [ctx.shape(i) for i in range(ctx.n_inputs)]
    if len({s[0] for s in shapes}) != 1:
        raise UnsupportedAttributeError("lengths", [s[0] for s in shapes], "sequences of equal length only")
    ups = [ctx.op("Unsqueeze", ctx.x(i), axes=[1]) for i in range(ctx.n_inputs)]
    steps = ctx.op("Concat", *ups, axis=1)  # (time, batch, ...)
    t = shapes[0][0]
    parts = ctx.b.node("Split", [steps], dict(axis=0, split=[1] * t), name=f"{ctx.name}/split", outputs=t)
    for k, p in enumerate(parts):
        ctx.out("Squeeze", [p], index=k, axes=[0])
