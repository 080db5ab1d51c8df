"""LSTM, GRU and Elman RNN: one IR node per layer, ONNX gate order.

torch packs gates as LSTM i,f,g,o and GRU r,z,n; the IR (ONNX) wants LSTM i,o,f,c and
GRU z,r,h. torch's GRU applies the reset gate after the recurrent matmul, which is
ONNX linear_before_reset=1. The IR's Y is (seq, dirs, batch, hidden); torch's output
is (seq, batch, dirs*hidden), hence Transpose + Reshape after every layer.
"""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ....ir.optable.rnn import GATE_ORDER, reorder_gates
from ..context import TorchContext, Zeros
from ..registry import register

SEQ_BATCH_SWAP = [1, 0, 2]  # (batch, seq, feature) <-> (seq, batch, feature)
Y_TO_TORCH = [0, 2, 1, 3]  # IR Y (seq, dirs, batch, hidden) -> (seq, batch, dirs, hidden)


def _reorder(w: np.ndarray, kind: str, hidden: int) -> np.ndarray:
    return reorder_gates(w, kind, "torch", "onnx")


def _layer_weights(ctx: TorchContext, params, layer: int, dirs: int, per: int, kind: str, hidden: int):
    W, R, B = [], [], []
    for d in range(dirs):
        p = [ctx.array(t) for t in params[(layer * dirs + d) * per:(layer * dirs + d + 1) * per]]
        if any(a is None for a in p):
            raise UnsupportedAttributeError("weights", "computed", "RNN weights must be parameters")
        W.append(_reorder(p[0], kind, hidden))
        R.append(_reorder(p[1], kind, hidden))
        gates = len(GATE_ORDER["onnx"][kind])
        bias = [_reorder(p[2], kind, hidden), _reorder(p[3], kind, hidden)] if per == 4 else \
            [np.zeros(gates * hidden, np.float32)] * 2
        B.append(np.concatenate(bias))
    name = f"{ctx.layer_name}.l{layer}"
    return (ctx.b.weight(name + ".W", np.stack(W)), ctx.b.weight(name + ".R", np.stack(R)),
            ctx.b.weight(name + ".B", np.stack(B)))


def _rnn(ctx: TorchContext, node, kind: str, states: list, rest: list, activation: str | None = None) -> list:
    x = node.args[0]
    params, has_biases, num_layers, _dropout, train, bidirectional, batch_first = rest
    if train:
        raise UnsupportedAttributeError("train", True, "put the model in eval() mode")
    dirs = 2 if bidirectional else 1
    per = 4 if has_biases else 2
    if len(params) != num_layers * dirs * per:
        raise UnsupportedAttributeError("proj_size", "> 0", "LSTM projections are not supported")
    hidden = int(ctx.meta(params[1]).shape[1])
    seq = ctx.v(x)
    if batch_first:
        seq = ctx.op("Transpose", seq, perm=SEQ_BATCH_SWAP)
    init = [None if isinstance(ctx.env.get(s), Zeros) else ctx.v(s) for s in states]
    attrs = {"hidden_size": hidden, "direction": "bidirectional" if bidirectional else "forward"}
    if kind == "GRU":
        attrs["linear_before_reset"] = 1
    if activation:
        attrs["activations"] = [activation] * dirs
    finals: list[list[str]] = [[] for _ in states]
    for layer in range(num_layers):
        W, R, B = _layer_weights(ctx, params, layer, dirs, per, kind, hidden)
        ins = [seq, W, R, B, ""]
        for s in init:
            ins.append("" if s is None else ctx.op("Slice", s, starts=[layer * dirs], ends=[(layer + 1) * dirs],
                                                   axes=[0]))
        while ins[-1] == "":
            ins.pop()
        name = ctx.layer_name if num_layers == 1 else f"{ctx.layer_name}.l{layer}"
        outs = ctx.b.node(kind, ins, attrs, name=name, outputs=1 + len(states))
        y = ctx.op("Transpose", outs[0], perm=Y_TO_TORCH)
        seq = ctx.op("Reshape", y, shape=[0, 0, -1])
        for i, o in enumerate(outs[1:]):
            finals[i].append(o)
    if batch_first:
        seq = ctx.op("Transpose", seq, perm=SEQ_BATCH_SWAP)
    last = [f[0] if len(f) == 1 else ctx.op("Concat", *f, axis=0) for f in finals]
    return [seq, *last]


@register("aten.lstm.input", emits=("Concat", "GRU", "LSTM", "Reshape", "Slice", "Transpose"))
def import_lstm(ctx: TorchContext, node) -> list:
    a = ctx.args(node)
    return _rnn(ctx, node, "LSTM", list(a[1]), a[2:])


@register("aten.gru.input", emits=("Concat", "GRU", "Reshape", "Slice", "Transpose"))
def import_gru(ctx: TorchContext, node) -> list:
    a = ctx.args(node)
    return _rnn(ctx, node, "GRU", [a[1]], a[2:])


@register("aten.rnn_tanh.input", "aten.rnn_relu.input",
          emits=("Concat", "GRU", "RNN", "Relu", "Reshape", "Slice", "Transpose"))
def import_rnn(ctx: TorchContext, node) -> list:
    a = ctx.args(node)
    act = "Relu" if "relu" in str(node.target) else None
    return _rnn(ctx, node, "RNN", [a[1]], a[2:], act)
