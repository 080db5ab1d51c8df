"""ONNX LSTM / GRU / RNN configurations nn.LSTM / nn.GRU / nn.RNN cannot express (reverse,
GRU linear_before_reset=0, peepholes, clip, input_forget, other activations, sequence
lengths, layout 1), written out as a time loop: to PyTorch against onnxruntime."""
from __future__ import annotations

import numpy as np
import pytest

import convert

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

SEQ, BATCH, INP, HID = 5, 3, 4, 6
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _model(op: str, layout: int, extra: dict, seq_lens: bool, states: bool, **attrs):
    rng = np.random.default_rng(0)
    dirs = 2 if attrs.get("direction") == "bidirectional" else 1
    g = GATES[op]
    w = {"W": rng.normal(0, 0.5, (dirs, g * HID, INP)), "R": rng.normal(0, 0.5, (dirs, g * HID, HID)),
         "B": rng.normal(0, 0.3, (dirs, 2 * g * HID))}
    if op == "LSTM" and extra.get("peepholes"):
        w["P"] = rng.normal(0, 0.5, (dirs, 3 * HID))
    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in w.items()]
    x_shape = [SEQ, BATCH, INP] if layout == 0 else [BATCH, SEQ, INP]
    s_shape = [dirs, BATCH, HID] if layout == 0 else [BATCH, dirs, HID]
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_shape)]
    names = ["X", "W", "R", "B", "", "", "", ""]
    if seq_lens:
        names[4] = "lens"
        inputs.append(helper.make_tensor_value_info("lens", TensorProto.INT32, [BATCH]))
    if states:
        names[5] = "h0"
        inputs.append(helper.make_tensor_value_info("h0", TensorProto.FLOAT, s_shape))
        if op == "LSTM":
            names[6] = "c0"
            inputs.append(helper.make_tensor_value_info("c0", TensorProto.FLOAT, s_shape))
    if "P" in w:
        names[7] = "P"
    while not names[-1]:
        names.pop()
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    node = helper.make_node(op, names, outs, hidden_size=HID, layout=layout, **attrs)
    graph = helper.make_graph([node], op, inputs, [helper.make_tensor_value_info(o, TensorProto.FLOAT, None)
                                                   for o in outs], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def _feeds(model, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for vi in model.graph.input:
        shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        out[vi.name] = np.array([SEQ, 2, 4], np.int32) if vi.name == "lens" else rng.normal(size=shape).astype(np.float32)
    return out


CASES = {  # name: (op, layout, extra, sequence lengths, initial states, ONNX attributes)
    "gru-lbr0": ("GRU", 0, {}, False, False, {}),
    "gru-lbr0-reverse-states": ("GRU", 0, {}, False, True, {"direction": "reverse"}),
    "gru-lbr1-bidirectional-layout1-lens": ("GRU", 1, {}, True, True,
                                            {"direction": "bidirectional", "linear_before_reset": 1}),
    "lstm-peepholes-clip": ("LSTM", 0, {"peepholes": True}, False, True, {"clip": 0.7}),
    "lstm-input-forget-reverse": ("LSTM", 0, {}, False, False, {"input_forget": 1, "direction": "reverse"}),
    "lstm-activations-lens": ("LSTM", 0, {}, True, True, {"activations": ["Sigmoid", "Relu", "Tanh"]}),
    "lstm-bidirectional-layout1-lens": ("LSTM", 1, {"peepholes": True}, True, True, {"direction": "bidirectional"}),
    "rnn-relu-reverse": ("RNN", 0, {}, False, True, {"direction": "reverse", "activations": ["Relu"]}),
    "rnn-mixed-bidirectional": ("RNN", 0, {}, True, False,
                                {"direction": "bidirectional", "activations": ["Tanh", "Sigmoid"]}),
}


def _ort(op, layout, extra, lens, states, attrs, feeds) -> list:
    """onnxruntime's outputs. It runs no batch-first (layout 1) recurrent layer (nor does the
    ONNX reference honour sequence_lens): the layout-0 model on transposed inputs instead."""
    def run(model, f):
        return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, f)

    if layout == 0:
        return run(_model(op, 0, extra, lens, states, **attrs), feeds)
    seq_first = {k: v if v.ndim == 1 else v.swapaxes(0, 1) for k, v in feeds.items()}
    y, *states_out = run(_model(op, 0, extra, lens, states, **attrs), seq_first)
    return [y.transpose(2, 0, 1, 3)] + [s.swapaxes(0, 1) for s in states_out]


def _torch(graph, feeds):
    with torch.no_grad():
        out = convert.to_torch(graph)(*[torch.from_numpy(v) for v in feeds.values()])
    return [o.numpy() for o in out]


@pytest.mark.parametrize("name", list(CASES))
def test_loop_matches_onnxruntime(name):
    op, layout, extra, lens, states, attrs = CASES[name]
    model = _model(op, layout, extra, lens, states, **attrs)
    feeds = _feeds(model, 1)
    want = _ort(op, layout, extra, lens, states, attrs, feeds)
    graph = convert.from_onnx(model)
    got = _torch(graph, feeds)
    for g, w in zip(got, want):
        assert g.shape == w.shape and np.allclose(g, w, rtol=1e-5, atol=1e-5), np.abs(g - w).max()
    # another input, and a 1% change to the recurrent weights, move Y far past the tolerance
    assert np.abs(_torch(graph, _feeds(model, 2))[0] - want[0]).max() > 1e-2
    r = graph.nodes[-1].inputs[2]
    graph.weights[r] = graph.weights[r] * 1.01  # imported weights may be read-only views of the file
    assert np.abs(_torch(graph, feeds)[0] - want[0]).max() > 1e-4
