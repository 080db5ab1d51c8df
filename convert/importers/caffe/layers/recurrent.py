"""Caffe LSTM and RNN, unrolled over the (static) time axis.

Caffe's recurrent layers take x (T, N, D) and cont (T, N): where cont is 0 the
sequence restarts and the state is reset. ONNX's LSTM/RNN have no per-step reset, so
the layer is unrolled into element-wise ops, exactly as Caffe's own unrolled net does:
h_conted = cont_t * h_{t-1}; for LSTM also c_t = cont_t * f * c_{t-1} + i * g.
"""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ....ir.optable.rnn import GATE_ORDER
from ..registry import register

_CAFFE_NAME = {"c": "g"}  # Caffe calls the cell input g


def _check(layer, ctx) -> tuple[int, int, int, int]:
    p = layer.recurrent_param
    if p.expose_hidden:
        raise UnsupportedAttributeError("expose_hidden", True, "initial/final hidden state blobs")
    if ctx.n_bottoms != 2:
        raise UnsupportedAttributeError("bottom", list(layer.bottom), "x and cont only (no static input)")
    shp = ctx.shape(0)
    if len(shp) != 3 or tuple(ctx.shape(1)) != tuple(shp[:2]):
        raise UnsupportedAttributeError("input shape", (shp, ctx.shape(1)), "x (T, N, D) with cont (T, N)")
    t, n, d = shp
    return t, n, d, int(p.num_output)


def _step_inputs(ctx, xp: str, t_len: int, n: int):
    """Per step: the projected input (N, G) and cont as (N, 1)."""
    cont = ctx.op("Unsqueeze", ctx.x(1), hint="cont", axes=[2])  # (T, N, 1)
    for t in range(t_len):
        x_t = ctx.op("Slice", xp, hint=f"x{t}", starts=[t], ends=[t + 1], axes=[0])
        x_t = ctx.op("Squeeze", x_t, hint=f"x{t}_sq", axes=[0])
        c_t = ctx.op("Slice", cont, hint=f"cont{t}", starts=[t], ends=[t + 1], axes=[0])
        c_t = ctx.op("Squeeze", c_t, hint=f"cont{t}_sq", axes=[0])
        yield t, x_t, c_t


@register("LSTM", emits=("Add", "Concat", "MatMul", "Mul", "Sigmoid", "Slice", "Split", "Squeeze", "Tanh", "Unsqueeze"))
def import_lstm(ctx, node):
    t_len, n, d, h = _check(node, ctx)
    w_xc = ctx.param(0, (4 * h, d))
    b_c = ctx.param(1, (4 * h,))
    w_hc = ctx.param(2, (4 * h, h))
    # x projection for all steps at once: (T, N, 4H), gate blocks in GATE_ORDER["caffe"]
    xp = ctx.op("MatMul", ctx.x(0), ctx.weight("W_xc_T", w_xc.T.copy()), hint="x_proj")
    xp = ctx.op("Add", xp, ctx.weight("b_c", b_c), hint="x_proj_b")
    w_hc_t = ctx.weight("W_hc_T", w_hc.T.copy())
    hs = []
    h_prev = c_prev = None
    for t, x_t, c_t in _step_inputs(ctx, xp, t_len, n):
        if h_prev is None:  # h0 = c0 = 0
            gates = x_t
        else:
            h_c = ctx.op("Mul", h_prev, c_t, hint=f"h_conted{t}")
            gates = ctx.op("Add", x_t, ctx.op("MatMul", h_c, w_hc_t, hint=f"h_proj{t}"), hint=f"gates{t}")
        part = {g: ctx.b.unique(f"{ctx.name}/{_CAFFE_NAME.get(g, g)}{t}") for g in GATE_ORDER["caffe"]["LSTM"]}
        ctx.b.emit("Split", [gates], list(part.values()), {"axis": 1, "split": [h] * 4}, f"{ctx.name}/split{t}")
        i_, f_, o_, g_ = part["i"], part["f"], part["o"], part["c"]
        i_s = ctx.op("Sigmoid", i_, hint=f"i{t}_sig")
        o_s = ctx.op("Sigmoid", o_, hint=f"o{t}_sig")
        g_t = ctx.op("Tanh", g_, hint=f"g{t}_tanh")
        ig = ctx.op("Mul", i_s, g_t, hint=f"ig{t}")
        if c_prev is None:
            c = ig
        else:
            f_s = ctx.op("Sigmoid", f_, hint=f"f{t}_sig")
            fc = ctx.op("Mul", ctx.op("Mul", f_s, c_t, hint=f"f{t}_cont"), c_prev, hint=f"fc{t}")
            c = ctx.op("Add", fc, ig, hint=f"c{t}")
        h_t = ctx.op("Mul", o_s, ctx.op("Tanh", c, hint=f"c{t}_tanh"), hint=f"h{t}")
        hs.append(ctx.op("Unsqueeze", h_t, hint=f"h{t}_unsq", axes=[0]))
        h_prev, c_prev = h_t, c
    ctx.top(0, "Concat", hs, (t_len, n, h), axis=0)


@register("RNN", emits=("Add", "Concat", "MatMul", "Mul", "Slice", "Squeeze", "Tanh", "Unsqueeze"))
def import_rnn(ctx, node):
    """h_t = tanh(W_xh x_t + b_h + W_hh (cont_t * h_{t-1})); o_t = tanh(W_ho h_t + b_o)."""
    t_len, n, d, h = _check(node, ctx)
    w_xh, b_h = ctx.param(0, (h, d)), ctx.param(1, (h,))
    w_hh, w_ho, b_o = ctx.param(2, (h, h)), ctx.param(3, (h, h)), ctx.param(4, (h,))
    xp = ctx.op("MatMul", ctx.x(0), ctx.weight("W_xh_T", w_xh.T.copy()), hint="x_proj")
    xp = ctx.op("Add", xp, ctx.weight("b_h", b_h), hint="x_proj_b")
    w_hh_t = ctx.weight("W_hh_T", w_hh.T.copy())
    hs = []
    h_prev = None
    for t, x_t, c_t in _step_inputs(ctx, xp, t_len, n):
        if h_prev is None:
            pre = x_t
        else:
            h_c = ctx.op("Mul", h_prev, c_t, hint=f"h_conted{t}")
            pre = ctx.op("Add", x_t, ctx.op("MatMul", h_c, w_hh_t, hint=f"h_proj{t}"), hint=f"pre{t}")
        h_t = ctx.op("Tanh", pre, hint=f"h{t}")
        hs.append(ctx.op("Unsqueeze", h_t, hint=f"h{t}_unsq", axes=[0]))
        h_prev = h_t
    hseq = ctx.op("Concat", *hs, hint="h_seq", axis=0)
    o = ctx.op("MatMul", hseq, ctx.weight("W_ho_T", w_ho.T.copy()), hint="o_proj")
    o = ctx.op("Add", o, ctx.weight("b_o", b_o), hint="o_proj_b")
    ctx.top(0, "Tanh", [o], (t_len, n, h))
