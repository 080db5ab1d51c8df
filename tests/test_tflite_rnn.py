"""LSTM / GRU / RNN -> .tflite (unrolled LiteRT builtins, dynamic batch): torch and Keras
sources, run in LiteRT's interpreter at two batch sizes and compared against the SOURCE
framework; the written file read back as a source and run through onnxruntime."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_close, run_onnx

torch = pytest.importorskip("torch")
pytest.importorskip("ai_edge_litert")
nn = torch.nn
RTOL, ATOL = 1e-4, 1e-5
SEQ, FEAT = 5, 3


def _write(graph, path):
    from convert.exporters.tflite import to_tflite

    data, ctx = to_tflite(graph)
    path.write_bytes(data)
    return ctx


def _run(path, graph, x: np.ndarray) -> list[np.ndarray]:
    from convert.exporters.tflite.runner import LiteRTModel

    model = LiteRTModel(path, ([v.name for v in graph.inputs], [v.name for v in graph.outputs]))
    out = model.run({graph.inputs[0].name: x})
    return [out[v.name] for v in graph.outputs]


class BiLSTMThenGRU(nn.Module):
    """batch-first bidirectional LSTM (all three outputs) into a GRU into a time-major RNN."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(FEAT, 4, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(8, 3, batch_first=True)
        self.rnn = nn.RNN(3, 2)

    def forward(self, x):
        y, (h, c) = self.lstm(x)
        z, hz = self.gru(y)
        w, _ = self.rnn(z.transpose(0, 1))
        return z, h, c, hz, w


class Stacked(nn.Module):
    """two-layer LSTM, time-major, and a bidirectional GRU on its output."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(FEAT, 4, num_layers=2)
        self.gru = nn.GRU(4, 3, bidirectional=True)

    def forward(self, x):
        y, _ = self.lstm(x.transpose(0, 1))
        z, h = self.gru(y)
        return z.transpose(0, 1), h


TORCH = {"bilstm_gru_rnn": BiLSTMThenGRU, "stacked_lstm_bigru": Stacked}


def _torch_graph(cls):
    import convert

    torch.manual_seed(0)
    model = cls().eval()
    with torch.no_grad():  # gates away from their linear range
        for p in model.parameters():
            p.mul_(2.0)
    return model, convert.from_torch(model, (torch.randn(2, SEQ, FEAT),))


def _torch_ref(model, x: np.ndarray) -> list[np.ndarray]:
    with torch.no_grad():
        return [t.numpy() for t in model(torch.from_numpy(x))]


@pytest.mark.parametrize("name", sorted(TORCH))
def test_torch_rnn_matches_in_litert(name, tmp_path):
    model, graph = _torch_graph(TORCH[name])
    ctx = _write(graph, tmp_path / "m.tflite")
    assert ctx.transposes <= 2, ctx.transposes  # at most the batch-first interface
    rng = np.random.default_rng(1)
    for batch in (2, 3):  # the batch is dynamic
        x = rng.standard_normal((batch, SEQ, FEAT)).astype(np.float32)
        for got, ref, v in zip(_run(tmp_path / "m.tflite", graph, x), _torch_ref(model, x), graph.outputs):
            assert_close(got, ref, RTOL, ATOL, f"{name}:{v.name}@{batch}")


def test_weights_and_inputs_carry_signal(tmp_path):
    """Another input, or a 1% change to a middle layer's recurrent weights, moves the outputs far
    past the tolerance; the perturbed model's file still matches its own source."""
    model, graph = _torch_graph(BiLSTMThenGRU)
    x = np.random.default_rng(2).standard_normal((2, SEQ, FEAT)).astype(np.float32)
    base = _torch_ref(model, x)
    other = _torch_ref(model, x[::-1].copy())
    assert np.abs(other[0] - base[0]).max() > 100 * ATOL
    with torch.no_grad():
        model.gru.weight_hh_l0.mul_(1.01)
    import convert

    moved = convert.from_torch(model, (torch.randn(2, SEQ, FEAT),))
    _write(moved, tmp_path / "moved.tflite")
    got = _run(tmp_path / "moved.tflite", moved, x)
    assert np.abs(got[0] - base[0]).max() > 100 * ATOL
    assert_close(got[0], _torch_ref(model, x)[0], RTOL, ATOL, "perturbed")


def _keras_models():
    keras = pytest.importorskip("keras")
    L = keras.layers
    keras.utils.set_random_seed(0)
    x = keras.Input((SEQ, FEAT))
    seq, h, c = L.LSTM(4, return_sequences=True, return_state=True, name="states")(x)
    bi = L.Bidirectional(L.GRU(3, return_sequences=True), name="bigru")(seq)
    back = L.GRU(2, go_backwards=True, reset_after=False, name="back_gru")(bi)
    back_seq = L.LSTM(2, go_backwards=True, return_sequences=True, name="back_lstm")(bi)
    simple = L.SimpleRNN(2, return_sequences=True, name="simple")(bi)
    bilstm = L.Bidirectional(L.LSTM(2), merge_mode="sum", name="bilstm")(x)
    model = keras.Model(x, [seq, h, c, back, back_seq, simple, bilstm])
    for w in model.weights:  # biases off zero, gates away from their linear range
        w.assign(np.random.default_rng(3).uniform(-0.8, 0.8, w.shape).astype(np.float32))
    return model


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    model = _keras_models()
    path = tmp_path_factory.mktemp("k") / "rnn.keras"
    model.save(path)
    return model, path


def test_keras_rnn_matches_in_litert(keras_file, tmp_path):
    import convert

    model, path = keras_file
    graph = convert.load_model(str(path)).graph
    _write(graph, tmp_path / "k.tflite")
    rng = np.random.default_rng(4)
    for batch in (2, 3):
        x = rng.standard_normal((batch, SEQ, FEAT)).astype(np.float32)
        refs = [np.asarray(r) for r in model(x)]
        for got, ref, v in zip(_run(tmp_path / "k.tflite", graph, x), refs, graph.outputs):
            assert_close(got, ref, RTOL, ATOL, f"keras:{v.name}@{batch}")


def test_rnn_tflite_reads_back(keras_file, tmp_path):
    """The written file as a source: its IR runs in onnxruntime as the Keras model does."""
    import convert

    model, path = keras_file
    graph = convert.load_model(str(path)).graph
    _write(graph, tmp_path / "k.tflite")
    back = convert.load_model(str(tmp_path / "k.tflite")).graph
    x = np.random.default_rng(5).standard_normal((3, SEQ, FEAT)).astype(np.float32)
    got = run_onnx(back, {back.inputs[0].name: x})
    for v, ref in zip(back.outputs, model(x)):
        assert_close(got[v.name], np.asarray(ref), RTOL, ATOL, f"read back:{v.name}")


def test_unsupported_rnn_attributes_listed(tmp_path):
    from convert.exporters.tflite import unsupported
    from convert.ir.builder import GraphBuilder

    b = GraphBuilder("m")
    x = b.input("x", shape=["batch", SEQ, FEAT])
    rng = np.random.default_rng(0)
    w = b.weight("W", rng.standard_normal((1, 8, FEAT)).astype(np.float32))
    r = b.weight("R", rng.standard_normal((1, 8, 2)).astype(np.float32))
    b.output(b.node("LSTM", [x, w, r], {"hidden_size": 2, "layout": 1, "clip": 3.0}, outputs=1)[0])
    problems = unsupported(b.finish())
    assert [(p.layer_type, p.attribute) for p in problems] == [("LSTM", "clip")], problems


def _sequence_lstm_file(path, batch: int, hidden: int, time_major: bool) -> tuple:
    """A file holding LiteRT's own UNIDIRECTIONAL_SEQUENCE_LSTM (as TensorFlow's converter
    writes for a fixed batch): zero variable states, random weights and biases (LiteRT's
    kernel requires the four biases). Returns the input shape."""
    from convert.exporters.tflite.context import TFLiteContext
    from convert.exporters.tflite.export import _serialize
    from convert.ir.builder import GraphBuilder

    shape = (SEQ, batch, FEAT) if time_major else (batch, SEQ, FEAT)
    b = GraphBuilder("lstm")
    x = b.input("x", shape=list(shape))
    b.output(b.op("Identity", x))
    graph = b.finish()
    ctx = TFLiteContext(graph, {"x": shape})
    xi = ctx.out("x")
    rng = np.random.default_rng(11)
    ins = [xi]
    for k, cols in enumerate([FEAT] * 4 + [hidden] * 4):
        ins.append(ctx.const(rng.uniform(-0.9, 0.9, (hidden, cols)).astype(np.float32), f"w{k}"))
    ins += [-1] * 3  # no peepholes
    ins += [ctx.const(rng.uniform(-0.5, 0.5, hidden).astype(np.float32), f"b{k}") for k in range(4)]
    ins += [-1, -1]  # no projection
    for k in range(2):  # output and cell state
        ins.append(ctx.tensor(f"state{k}", [batch, hidden]))
        ctx.tensors[ins[-1]].isVariable = True
    y = ctx.tensor("y", list(shape[:2]) + [hidden])
    ctx.op("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [y], "UnidirectionalSequenceLSTMOptions",
           fusedActivationFunction=4, timeMajor=time_major)
    ctx.outputs = [y]
    ctx.layouts = {}
    path.write_bytes(_serialize(ctx))
    return shape


@pytest.mark.parametrize("time_major", [False, True], ids=["batch_major", "time_major"])
def test_litert_sequence_lstm_imports(time_major, tmp_path):
    """LiteRT's fused LSTM read as an IR LSTM: the IR in onnxruntime matches the interpreter
    running the file (the reference), which another input moves far past the tolerance."""
    from ai_edge_litert.interpreter import Interpreter

    import convert

    batch, hidden = 2, 4
    path = tmp_path / "lstm.tflite"
    shape = _sequence_lstm_file(path, batch, hidden, time_major)
    rng = np.random.default_rng(12)
    x, x2 = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))

    def litert(arr):
        interp = Interpreter(model_path=str(path))  # fresh: the states are variables
        interp.allocate_tensors()
        interp.set_tensor(interp.get_input_details()[0]["index"], arr)
        interp.invoke()
        return interp.get_tensor(interp.get_output_details()[0]["index"])

    ref = litert(x)
    assert np.abs(litert(x2) - ref).max() > 100 * ATOL
    graph = convert.load_model(str(path)).graph
    assert [n.op for n in graph.nodes].count("LSTM") == 1
    got = run_onnx(graph, {graph.inputs[0].name: x})
    assert_close(got[graph.outputs[0].name], ref, RTOL, ATOL, "UNIDIRECTIONAL_SEQUENCE_LSTM")


def test_last_step_slice_with_shrink_axis_imports(tmp_path):
    """x[:, -1] as TensorFlow's converter writes it after an LSTM (STRIDED_SLICE with a shrink
    axis): read back, it matches the interpreter running the file."""
    from ai_edge_litert.interpreter import Interpreter

    import convert
    from convert.exporters.tflite.context import TFLiteContext
    from convert.exporters.tflite.export import _serialize
    from convert.ir.builder import GraphBuilder

    shape = (2, SEQ, FEAT)
    b = GraphBuilder("last")
    b.output(b.op("Identity", b.input("x", shape=list(shape))))
    ctx = TFLiteContext(b.finish(), {"x": shape})
    y = ctx.tensor("y", [shape[0], shape[2]])
    ctx.op("STRIDED_SLICE", [ctx.out("x"), ctx.ints([0, -1, 0]), ctx.ints([0, 0, 0], "end"), ctx.ints([1, 1, 1], "s")],
           [y], "StridedSliceOptions", beginMask=0b101, endMask=0b101, shrinkAxisMask=0b010)
    ctx.outputs, ctx.layouts = [y], {}
    path = tmp_path / "last.tflite"
    path.write_bytes(_serialize(ctx))
    x = np.random.default_rng(13).standard_normal(shape).astype(np.float32)
    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    ref = interp.get_tensor(interp.get_output_details()[0]["index"])
    assert_close(ref, x[:, -1], what="the interpreter's own slice")
    graph = convert.load_model(str(path)).graph
    assert_close(run_onnx(graph, {graph.inputs[0].name: x})[graph.outputs[0].name], ref, what="read back")
