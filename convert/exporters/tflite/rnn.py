"""LSTM / GRU / RNN as LiteRT builtins, unrolled over the (static) sequence length.

LiteRT's UNIDIRECTIONAL_SEQUENCE_LSTM keeps its states in variable tensors of a fixed
batch that persist between invocations, and it has no GRU at all; an exact WHILE-free
unrolling keeps the batch dynamic and serves all three cells alike: one FULLY_CONNECTED
projects every step's input at once (both biases folded in), then per step a
FULLY_CONNECTED of the state, SPLIT into gates, LOGISTIC/TANH and elementwise ops.
Gate order is the IR's (LSTM i, o, f, c; GRU z, r, h). The sequence output is stored
batch-before-directions, so the usual (seq, dir, batch, hidden) -> (seq, batch, dir*hidden)
Transpose + Reshape of the sources costs nothing."""
from __future__ import annotations

import numpy as np

from .context import TFLiteContext, attr, unsupported_attr
from .registry import register

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
DEFAULT_ACTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}


def _check(node, ctx: TFLiteContext) -> None:
    acts = attr(node, "activations")
    n_dir = 2 if attr(node, "direction") == "bidirectional" else 1
    if acts and [a.lower() for a in acts] != [a.lower() for a in DEFAULT_ACTS[node.op] * n_dir]:
        raise unsupported_attr("activations", acts, "only the default gate activations")
    if attr(node, "clip") is not None:
        raise unsupported_attr("clip", attr(node, "clip"), "no cell clipping in the unrolled form")
    if node.op == "LSTM" and attr(node, "input_forget"):
        raise unsupported_attr("input_forget", 1)
    for i, name in ((4, "sequence_lens"), (7, "P")):
        if len(node.inputs) > i and node.inputs[i]:
            raise unsupported_attr(name, node.inputs[i], "sequences of one length, no peepholes")
    for i in (1, 2):
        if ctx.weight(node.inputs[i]) is None:
            raise unsupported_attr("W" if i == 1 else "R", node.inputs[i], "constant weights")
    if len(node.inputs) > 3 and node.inputs[3] and ctx.weight(node.inputs[3]) is None:
        raise unsupported_attr("B", node.inputs[3], "a constant bias")
    steps = ctx.ir_shape(node.inputs[0])[int(attr(node, "layout"))]
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise unsupported_attr("sequence_length", steps, "the sequence length must be static to unroll")


class _Cell:
    """One direction of one node: emits the ops of a step on (batch, hidden) tensors."""

    def __init__(self, node, ctx: TFLiteContext, d: int, batch):
        self.node, self.ctx, self.d, self.batch = node, ctx, d, batch
        self.op = node.op
        self.hidden = int(attr(node, "hidden_size"))
        g, hd = GATES[node.op], self.hidden
        self.W = ctx.weight(node.inputs[1])[d].astype(np.float32)
        self.R = ctx.weight(node.inputs[2])[d].astype(np.float32)
        has_b = len(node.inputs) > 3 and node.inputs[3]
        B = ctx.weight(node.inputs[3])[d].astype(np.float32) if has_b else np.zeros(2 * g * hd, np.float32)
        self.Wb, self.Rb = B[:g * hd], B[g * hd:]
        self.lbr = node.op == "GRU" and bool(attr(node, "linear_before_reset"))
        self.name = f"{node.name}/d{d}"

    def t(self, tag: str, width: int | None = None) -> int:
        return self.ctx.tensor(f"{self.name}/{tag}", [self.batch, width or self.hidden])

    def input_projection(self, x: int, x_shape) -> int:
        """x @ W^T + Wb (+ the recurrent biases that add unconditionally), all steps at once."""
        bias = self.Wb.copy()
        g, hd = GATES[self.op], self.hidden
        if self.lbr:
            bias[:2 * hd] += self.Rb[:2 * hd]  # the h-gate's recurrent bias sits inside r * (...)
        else:
            bias += self.Rb
        ctx = self.ctx
        y = ctx.tensor(f"{self.name}/xw", list(x_shape[:2]) + [g * hd])
        ctx.op("FULLY_CONNECTED", [x, ctx.const(self.W, f"{self.name}/W", quant_axis=0),
                                   ctx.const(bias, f"{self.name}/Wb")], [y],
               "FullyConnectedOptions", keepNumDims=True)
        return y

    def dense(self, h: int, rows: slice, tag: str, bias: np.ndarray | None = None) -> int:
        ctx = self.ctx
        w = self.R[rows]
        y = self.t(tag, w.shape[0])
        b = ctx.const(bias, f"{self.name}/{tag}/b") if bias is not None else -1
        ctx.op("FULLY_CONNECTED", [h, ctx.const(w, f"{self.name}/{tag}/R", quant_axis=0), b], [y],
               "FullyConnectedOptions")
        return y

    def binary(self, code: str, a: int, b: int, tag: str) -> int:
        # no fused activation: LiteRT's float ADD/MUL clamp to a range and cannot fuse TANH
        y = self.ctx.like(a, f"{self.name}/{tag}")
        self.ctx.op(code, [a, b], [y])
        return y

    def unary(self, code: str, a: int, tag: str) -> int:
        y = self.ctx.like(a, f"{self.name}/{tag}")
        self.ctx.op(code, [a], [y])
        return y

    def split(self, a: int, n: int, tag: str) -> list[int]:
        outs = [self.t(f"{tag}{i}") for i in range(n)]
        self.ctx.op("SPLIT", [self.ctx.ints(1, f"{self.name}/axis1"), a], outs, "SplitOptions", numSplits=n)
        return outs

    def step(self, xw: int, h: int | None, c: int | None, k: int) -> tuple[int, int | None]:
        """(h, c) after one step; ``h``/``c`` None stand for zero states (the first step)."""
        hd = self.hidden
        s = f"s{k}/"
        if self.op == "RNN":
            pre = xw if h is None else self.binary("ADD", xw, self.dense(h, slice(None), s + "rh"), s + "pre")
            return self.unary("TANH", pre, s + "h"), None
        if self.op == "LSTM":
            gates = xw if h is None else self.binary("ADD", xw, self.dense(h, slice(None), s + "rh"), s + "gates")
            i, o, f, g = self.split(gates, 4, s + "gate")
            i, o, f = (self.unary("LOGISTIC", v, s + n) for v, n in ((i, "i"), (o, "o"), (f, "f")))
            ig = self.binary("MUL", i, self.unary("TANH", g, s + "g"), s + "ig")
            c = ig if c is None else self.binary("ADD", self.binary("MUL", f, c, s + "fc"), ig, s + "c")
            return self.binary("MUL", o, self.unary("TANH", c, s + "tc"), s + "h"), c
        # GRU
        xz, xr, xh = self.split(xw, 3, s + "x")
        if h is None:
            z, r = self.unary("LOGISTIC", xz, s + "z"), self.unary("LOGISTIC", xr, s + "r")
        else:
            rz, rr = self.split(self.dense(h, slice(0, 2 * hd), s + "rzr"), 2, s + "rg")
            z = self.unary("LOGISTIC", self.binary("ADD", xz, rz, s + "zpre"), s + "z")
            r = self.unary("LOGISTIC", self.binary("ADD", xr, rr, s + "rpre"), s + "r")
        if self.lbr:  # r * (R_h h + Rb_h); a zero state leaves r * Rb_h
            if h is None:
                rec = self.ctx.const(self.Rb[2 * hd:], f"{self.name}/Rbh")
            else:
                rec = self.dense(h, slice(2 * hd, None), s + "rh", self.Rb[2 * hd:])
            n = self.unary("TANH", self.binary("ADD", xh, self.binary("MUL", r, rec, s + "rrec"), s + "npre"), s + "n")
        elif h is None:  # R_h (r * 0) = 0
            n = self.unary("TANH", xh, s + "n")
        else:
            rec = self.dense(self.binary("MUL", r, h, s + "rhid"), slice(2 * hd, None), s + "rh")
            n = self.unary("TANH", self.binary("ADD", xh, rec, s + "npre"), s + "n")
        if h is None:  # (1 - z) * n
            return self.binary("SUB", n, self.binary("MUL", z, n, s + "zn"), s + "h"), None
        return self.binary("ADD", n, self.binary("MUL", z, self.binary("SUB", h, n, s + "hn"), s + "zhn"),
                           s + "h"), None


def _states(node, ctx: TFLiteContext, index: int, n_dir: int, layout: int, batch) -> list[int | None]:
    """Initial states per direction ((batch, hidden) tensors), None for zero."""
    if len(node.inputs) <= index or not node.inputs[index]:
        return [None] * n_dir
    w = ctx.weight(node.inputs[index])
    if w is not None and not np.any(w):
        return [None] * n_dir
    hd = int(attr(node, "hidden_size"))
    outs = [ctx.tensor(f"{node.name}/init{index}/{d}", [batch, hd]) for d in range(n_dir)]
    ctx.op("UNPACK", [ctx.get(node.inputs[index])], outs, "UnpackOptions", num=n_dir, axis=layout)
    return outs


def _pack(ctx: TFLiteContext, parts: list[int], axis: int, shape, name: str) -> int:
    y = ctx.tensor(name, shape)
    ctx.op("PACK", parts, [y], "PackOptions", valuesCount=len(parts), axis=axis)
    return y


@register("LSTM", "GRU", "RNN")
def export_rnn(ctx: TFLiteContext, node) -> None:
    _check(node, ctx)
    layout = int(attr(node, "layout"))
    direction = attr(node, "direction")
    n_dir = 2 if direction == "bidirectional" else 1
    x_shape = ctx.ir_shape(node.inputs[0])
    steps, batch = (x_shape[1], x_shape[0]) if layout else (x_shape[0], x_shape[1])
    steps, hd = int(steps), int(attr(node, "hidden_size"))
    # the projection reads features last; any stored order of (seq, batch) serves as is
    have = ctx.perm(node.inputs[0])
    x_perm = have if have[-1] == 2 else (0, 1, 2)
    x = ctx.get(node.inputs[0], x_perm)
    time_axis = x_perm.index(layout)
    h0 = _states(node, ctx, 5, n_dir, layout, batch)
    c0 = _states(node, ctx, 6, n_dir, layout, batch) if node.op == "LSTM" else [None] * n_dir
    seq: list[list[int]] = []  # per direction, the state at each position
    last_h, last_c = [], []
    for d in range(n_dir):
        cell = _Cell(node, ctx, d, batch)
        xw = cell.input_projection(x, [x_shape[p] for p in x_perm])
        xs = [cell.t(f"xw{t}", GATES[node.op] * hd) for t in range(steps)]
        ctx.op("UNPACK", [xw], xs, "UnpackOptions", num=steps, axis=time_axis)
        reverse = direction == "reverse" or d == 1
        order = range(steps - 1, -1, -1) if reverse else range(steps)
        h, c = h0[d], c0[d]
        hs: list[int] = [0] * steps
        for k, t in enumerate(order):
            h, c = cell.step(xs[t], h, c, k)
            hs[t] = h
        seq.append(hs)
        last_h.append(h)
        last_c.append(c)
    outs = list(node.outputs) + [""] * (3 - len(node.outputs))
    if outs[0]:
        # stored (seq, batch, dir, hidden) for layout 0, the IR's own (batch, seq, dir, hidden) for layout 1
        per_step = [_pack(ctx, [seq[d][t] for d in range(n_dir)], 1, [batch, n_dir, hd], f"{node.name}/y{t}")
                    for t in range(steps)]
        dims = [batch, steps, n_dir, hd] if layout else [steps, batch, n_dir, hd]
        y = _pack(ctx, per_step, layout, dims, outs[0])
        perm = (0, 1, 2, 3) if layout else (0, 2, 1, 3)
        ctx.put(outs[0], y, perm)
        ctx.layouts[ctx.tensors[y].name] = (outs[0], perm)
    for value, lasts in ((outs[1], last_h), (outs[2], last_c)):
        if value:
            dims = [batch, n_dir, hd] if layout else [n_dir, batch, hd]
            y = _pack(ctx, lasts, layout, dims, value)
            ctx.put(value, y, (0, 1, 2))
            ctx.layouts[ctx.tensors[y].name] = (value, (0, 1, 2))
