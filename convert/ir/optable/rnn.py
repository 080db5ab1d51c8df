"""Recurrent layers, ONNX conventions throughout.

Gate order fixed by the IR (the ONNX one): LSTM i, o, f, c; GRU z, r, h. PyTorch
(LSTM i, f, g, o; GRU r, z, n), Keras (LSTM i, f, c, o; GRU z, r, h) and Caffe (LSTM
i, f, o, g) are reordered by their importers and exporters. W is (num_directions,
gates*hidden, input), R is (num_directions, gates*hidden, hidden), B is
(num_directions, 2*gates*hidden) = [Wb, Rb]. layout 0: X is (seq, batch, input), Y
is (seq, num_directions, batch, hidden); layout 1: X is (batch, seq, input), Y is
(batch, seq, num_directions, hidden). Y_h / Y_c are the last states,
(num_directions, batch, hidden) for layout 0. One node is one layer: stacked
layers are chained nodes.
"""
from . import declare
from .spec import Attr

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
