"""LSTM / GRU / RNN as keras LSTM / GRU / SimpleRNN (wrapped in Bidirectional when needed).

Gate blocks go from the IR's ONNX order (LSTM i,o,f,c; GRU z,r,h) to Keras' (LSTM i,f,c,o;
GRU z,r,h); kernels are transposed to (input, gates*hidden)."""
from __future__ import annotations

import numpy as np

from ...ir.optable.rnn import reorder_gates
from .context import KerasContext, attr, unsupported_attr
from .registry import register

_ACT = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu"}
X_TIME_MAJOR = (1, 0, 2)  # layout 0: Keras wants (batch, seq, input) = X transposed


def _reorder(w: np.ndarray, op: str) -> np.ndarray:
    return reorder_gates(w, op, "onnx", "keras")


def _activations(node) -> dict:
    acts = list(attr(node, "activations") or [])
    n = {"LSTM": 3, "GRU": 2, "RNN": 1}[node.op]
    dirs = 2 if attr(node, "direction") == "bidirectional" else 1
    if not acts:
        return {}
    per_dir = acts[:n]
    if acts != per_dir * dirs or any(a not in _ACT for a in acts) or (n == 3 and per_dir[1] != per_dir[2]):
        raise unsupported_attr("activations", acts, "one recurrent and one output activation of sigmoid/tanh/relu")
    if n == 1:
        return {"activation": _ACT[per_dir[0]]}
    return {"recurrent_activation": _ACT[per_dir[0]], "activation": _ACT[per_dir[1]]}


def _weights(op: str, w, r, b, d: int, reset_after: bool) -> list[np.ndarray]:
    out = [_reorder(w[d], op).T, _reorder(r[d], op).T]
    if b is not None:
        wb, rb = np.split(b[d], 2)
        if op == "GRU" and reset_after:  # Keras keeps input and recurrent biases apart: (2, 3*hidden)
            out.append(np.stack([_reorder(wb, op), _reorder(rb, op)]))
        else:
            out.append(_reorder(wb + rb, op))
    return [np.ascontiguousarray(a, dtype=np.float32) for a in out]


@register("LSTM", "GRU", "RNN")
def export_rnn(ctx: KerasContext, node):
    names = ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"]
    for i, v in enumerate(node.inputs[4:], 4):
        if v:
            raise unsupported_attr(names[i], v, "Keras recurrent layers here take no lengths, initial states or peepholes")
    if attr(node, "clip") is not None or (node.op == "LSTM" and attr(node, "input_forget")):
        raise unsupported_attr("clip/input_forget", [attr(node, "clip"), attr(node, "input_forget")])
    direction, layout, hidden = attr(node, "direction"), attr(node, "layout"), int(attr(node, "hidden_size"))
    if direction == "reverse":
        raise unsupported_attr("direction", "reverse", "Keras go_backwards returns the sequence reversed")
    w, r = ctx.weight(node.inputs[1]), ctx.weight(node.inputs[2])
    b = ctx.weight(node.inputs[3]) if len(node.inputs) > 3 and node.inputs[3] else None
    if w is None or r is None or (len(node.inputs) > 3 and node.inputs[3] and b is None):
        raise unsupported_attr("W/R/B", node.inputs[1:4], "a Keras layer needs constant weights")
    kwargs = dict(units=hidden, use_bias=b is not None, return_sequences=True, return_state=True,
                  **_activations(node))
    reset_after = bool(attr(node, "linear_before_reset")) if node.op == "GRU" else False
    if node.op == "GRU":
        kwargs["reset_after"] = reset_after
    cls = {"LSTM": ctx.layers.LSTM, "GRU": ctx.layers.GRU, "RNN": ctx.layers.SimpleRNN}[node.op]
    x = ctx.get(node.inputs[0], X_TIME_MAJOR if layout == 0 else None)
    dirs = w.shape[0]
    weights = [a for d in range(dirs) for a in _weights(node.op, w, r, b, d, reset_after)]
    if dirs == 2:
        layer = ctx.layers.Bidirectional(cls(**kwargs, name=ctx.name(node, "cell")), merge_mode="concat",
                                         name=ctx.name(node))
    else:
        layer = cls(**kwargs, name=ctx.name(node))
    outs = ctx.call(layer, x, weights)
    seq, states = outs[0], outs[1:]
    n_states = 2 if node.op == "LSTM" else 1
    outputs = list(node.outputs) + ["", "", ""]
    if outputs[0]:  # IR Y has a directions axis: (batch, seq, dirs*hidden) -> (batch, seq, dirs, hidden)
        y = ctx.layers.Reshape((-1, dirs, hidden), name=ctx.name(node, "y"))(seq)
        ctx.put(outputs[0], y, (2, 0, 1, 3) if layout == 0 else None)
    for k in range(n_states):  # Y_h, Y_c: (batch, dirs, hidden) in Keras
        if not outputs[1 + k]:
            continue
        parts = [states[d * n_states + k] for d in range(dirs)]
        s = parts[0] if dirs == 1 else ctx.layers.Concatenate(name=ctx.name(node, f"state{k}_concat"))(parts)
        s = ctx.layers.Reshape((dirs, hidden), name=ctx.name(node, f"state{k}"))(s)
        ctx.put(outputs[1 + k], s, X_TIME_MAJOR if layout == 0 else None)
