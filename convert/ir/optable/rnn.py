"""Recurrent layers, ONNX conventions throughout.

Gate order fixed by the IR (the ONNX one): LSTM i, o, f, c; GRU z, r, h. Every other
framework's order is in ``GATE_ORDER``; importers and exporters reorder through
``reorder_gates``. W is (num_directions,
gates*hidden, input), R is (num_directions, gates*hidden, hidden), B is
(num_directions, 2*gates*hidden) = [Wb, Rb]. layout 0: X is (seq, batch, input), Y
is (seq, num_directions, batch, hidden); layout 1: X is (batch, seq, input), Y is
(batch, seq, num_directions, hidden). Y_h / Y_c are the last states,
(num_directions, batch, hidden) for layout 0. One node is one layer: stacked
layers are chained nodes.
"""
import numpy as np

from . import declare
from .spec import Attr

# Gate blocks along the gates*hidden axis of W, R and each bias, per framework, in the IR's
# gate names (torch's and cuDNN's g / n are the IR's c / h). "onnx" is the IR's own order.
GATE_ORDER = {
    "onnx": {"LSTM": "iofc", "GRU": "zrh", "RNN": "h"},
    "torch": {"LSTM": "ifco", "GRU": "rzh", "RNN": "h"},
    "mxnet": {"LSTM": "ifco", "GRU": "rzh", "RNN": "h"},  # cuDNN's packing
    "keras": {"LSTM": "ifco", "GRU": "zrh", "RNN": "h"},
    "caffe": {"LSTM": "ifoc"},
    "chainer": {"LSTM": "cifo"},  # chainer.functions.lstm: a, i, f, o interleaved per unit
}


# the gate activations an op applies when its ``activations`` attribute is unset
DEFAULT_ACTIVATIONS = {"LSTM": ("Sigmoid", "Tanh", "Tanh"), "GRU": ("Sigmoid", "Tanh"), "RNN": ("Tanh",)}


def gate_perm(op: str, src: str, dst: str) -> list[int]:
    """Block k of the ``dst`` packing is block ``perm[k]`` of the ``src`` packing."""
    have, want = GATE_ORDER[src][op], GATE_ORDER[dst][op]
    return [have.index(g) for g in want]


def reorder_gates(w: np.ndarray, op: str, src: str, dst: str, axis: int = 0) -> np.ndarray:
    """``w`` with its gate blocks (equal parts of ``axis``) moved from ``src``'s order to ``dst``'s."""
    perm = gate_perm(op, src, dst)
    blocks = np.split(np.asarray(w), len(perm), axis=axis)
    return np.ascontiguousarray(np.concatenate([blocks[k] for k in perm], axis=axis))

_RNN = {
    "hidden_size": Attr("int"),
    "direction": Attr("str", "forward", choices=("forward", "reverse", "bidirectional")),
    "layout": Attr("int", 0),
    "activations": Attr("strs", None, "default per op (Tanh; Sigmoid/Tanh/Tanh for LSTM)"),
    "clip": Attr("float", None),
}

declare("LSTM", "rnn", "X W R B? sequence_lens? initial_h? initial_c? P?", "Y? Y_h? Y_c?", attrs={
    **_RNN, "input_forget": Attr("int", 0),
}, doc="LSTM, gate order i, o, f, c; c_t = f*c + i*g; h_t = o*tanh(c_t).")
declare("GRU", "rnn", "X W R B? sequence_lens? initial_h?", "Y? Y_h?", attrs={
    **_RNN, "linear_before_reset": Attr("int", 0, "1: r * (R h + Rb) (PyTorch, Keras reset_after)"),
}, doc="GRU, gate order z, r, h; h_t = (1-z)*h~ + z*h_{t-1}.")
declare("RNN", "rnn", "X W R B? sequence_lens? initial_h?", "Y? Y_h?", attrs=_RNN,
        doc="Elman RNN: h_t = f(W x_t + R h_{t-1} + Wb + Rb), f = Tanh by default.")
