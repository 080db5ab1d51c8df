"""ONNX as a source: files that exporters really write (torch.onnx in TorchScript and
dynamo mode), converted to PyTorch and Keras and compared with the original framework;
plus the importer's contract (dynamic batch kept, every gap listed, hostile external data
refused, constant If and Q/DQ folded)."""
from __future__ import annotations

import logging

import warnings

import numpy as np
import pytest

import convert
from convert.errors import ModelLoadError, UnsupportedError
from helpers import assert_close

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.fc = torch.nn.Linear(8 * 3 * 5, 6)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        y = y + torch.sigmoid(self.conv2(y))
        y = torch.nn.functional.max_pool2d(y, 2)
        return self.fc(y.view(y.size(0), -1))  # logits


def _calibrated_cnn():
    torch.manual_seed(0)
    m = SmallCNN()
    m.train()
    with torch.no_grad():
        m(torch.randn(16, 3, 6, 10))  # BatchNorm running stats from a batch
    return m.eval()


@pytest.fixture(scope="module")
def cnn_onnx(tmp_path_factory):
    m = _calibrated_cnn()
    path = tmp_path_factory.mktemp("onnx") / "cnn.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (torch.randn(2, 3, 6, 10),), str(path), dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return m, path


def _inputs(batch: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, 6, 10)).astype(np.float32)


def test_torchscript_export_to_torch_keeps_dynamic_batch(cnn_onnx):
    m, path = cnn_onnx
    graph = convert.from_onnx(path)
    assert isinstance(graph.inputs[0].shape[0], str), graph.inputs  # dynamic batch stays dynamic
    assert graph.nodes[0].source.layer_name == "/conv/Conv"  # ONNX node names become IR names
    module = convert.to_torch(graph)
    for batch, seed in ((1, 1), (3, 2)):
        x = _inputs(batch, seed)
        with torch.no_grad():
            want = m(torch.from_numpy(x)).numpy()
            got = module(torch.from_numpy(x)).numpy()
        assert_close(got, want, rtol=1e-4, atol=1e-5, what=f"batch {batch}")
    # the check can fail: another input, and a 1% change to a middle weight, move the output
    x = _inputs(2, 3)
    with torch.no_grad():
        base = module(torch.from_numpy(x)).numpy()
        other = module(torch.from_numpy(_inputs(2, 4))).numpy()
    assert np.abs(base - other).max() > 1e-1
    mid = graph.nodes[0].inputs[1]  # the first conv (batch norm folded into it by the exporter)
    graph.weights[mid] = graph.weights[mid] * 1.01
    with torch.no_grad():
        moved = convert.to_torch(graph)(torch.from_numpy(x)).numpy()
    tol = (1e-5 + 1e-4 * np.abs(base)).max()
    assert np.abs(moved - base).max() > 10 * tol


def test_torchscript_export_to_keras(cnn_onnx):
    pytest.importorskip("keras")
    m, path = cnn_onnx
    model = convert.to_keras(convert.optimize(convert.from_onnx(path)))
    x = _inputs(2, 5)
    with torch.no_grad():
        want = m(torch.from_numpy(x)).numpy()
    assert_close(np.asarray(model(x)), want, rtol=1e-4, atol=1e-5, what="keras, NCHW interface")


def test_convert_file_to_pt2_verifies(cnn_onnx, tmp_path):
    _, path = cnn_onnx
    result = convert.convert_file(str(path), str(tmp_path / "cnn.pt2"), verify=True)
    assert result.report.ok and (tmp_path / "cnn.pt2").exists()
    assert len(result.report.runs) == 2  # two batch sizes: the batch is dynamic


def test_nhwc_interface_for_keras(cnn_onnx):
    m, path = cnn_onnx
    graph = convert.from_onnx(path, io_layout="nhwc")
    assert graph.inputs[0].shape[1:] == (6, 10, 3)
    x = _inputs(2, 6)
    with torch.no_grad():
        want = m(torch.from_numpy(x)).numpy()
        got = convert.to_torch(graph)(torch.from_numpy(x.transpose(0, 2, 3, 1).copy())).numpy()
    assert_close(got, want, rtol=1e-4, atol=1e-5)


class BiLSTM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(5, 7, batch_first=True, bidirectional=True)
        self.fc = torch.nn.Linear(14, 3)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y)


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_bilstm_export_to_torch(tmp_path, dynamo):
    torch.manual_seed(1)
    m = BiLSTM().eval()
    x = torch.randn(2, 4, 5)
    path = tmp_path / "bilstm.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(m, (x,), str(path), dynamo=True, input_names=["x"], output_names=["y"])
        else:
            torch.onnx.export(m, (x,), str(path), dynamo=False, input_names=["x"], output_names=["y"])
    module = convert.to_torch(convert.from_onnx(path))
    x2 = torch.randn(2, 4, 5)
    with torch.no_grad():
        assert_close(module(x2).numpy(), m(x2).numpy(), rtol=1e-4, atol=1e-5)
        assert np.abs(module(x2).numpy() - module(x).numpy()).max() > 1e-2


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "m", inputs, outputs, initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def test_every_unsupported_node_listed_at_once():
    model = _model([helper.make_node("Multinomial", ["x"], ["a"], name="first"),
                    helper.make_node("Relu", ["a"], ["b"], name="after_first"),
                    helper.make_node("RandomUniformLike", ["x"], ["c"], name="second")],
                   [_vi("x", [2, 2])], [_vi("b", []), _vi("c", None)])
    with pytest.raises(UnsupportedError) as e:
        convert.from_onnx(model)
    assert [i.layer for i in e.value.items] == ["first", "second"]  # root causes only, all of them


def test_data_dependent_reshape_named():
    model = _model([helper.make_node("Reshape", ["x", "s"], ["y"], name="dyn_reshape")],
                   [_vi("x", [2, 3]), _vi("s", [2], TensorProto.INT64)], [_vi("y", None)])
    with pytest.raises(UnsupportedError) as e:
        convert.from_onnx(model)
    assert e.value.items[0].layer == "dyn_reshape" and e.value.items[0].attribute == "shape"


def test_constant_if_folded_and_dequantized_weight_warns(caplog):
    w_q = numpy_helper.from_array(np.arange(-6, 6, dtype=np.int8).reshape(3, 4), "w_q")
    scale = numpy_helper.from_array(np.array(0.5, dtype=np.float32), "scale")
    cond = numpy_helper.from_array(np.array(True), "cond")
    then = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["t"])], "then", [], [_vi("t", None)])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [_vi("e", None)])
    model = _model([helper.make_node("DequantizeLinear", ["w_q", "scale"], ["w"], name="dq"),
                    helper.make_node("If", ["cond"], ["y"], name="branch", then_branch=then, else_branch=other)],
                   [_vi("x", [2, 3])], [_vi("y", [2, 4])], [w_q, scale, cond])
    # A framework imported earlier in the session may have run logging.config with
    # disable_existing_loggers (the default), which switches existing loggers off.
    logging.getLogger("convert.importers.onnx").disabled = False
    with caplog.at_level(logging.WARNING, logger="convert.importers.onnx"):
        graph = convert.from_onnx(model)
    assert [n.op for n in graph.nodes] == ["MatMul"]
    assert any("DequantizeLinear" in r.getMessage() for r in caplog.records)
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    with torch.no_grad():
        got = convert.to_torch(graph)(torch.from_numpy(x)).numpy()
    assert_close(got, x @ (np.arange(-6, 6).reshape(3, 4) * 0.5), rtol=1e-5, atol=1e-5)


def _external_model(tmp_path, location: str):
    w = numpy_helper.from_array(np.ones((16, 16), np.float32), "w")
    model = _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [_vi("x", [1, 16])], [_vi("y", [1, 16])], [w])
    t = model.graph.initializer[0]
    t.ClearField("float_data")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", "1024")):
        e = t.external_data.add()
        e.key, e.value = k, v
    path = tmp_path / "sub" / "m.onnx"
    path.parent.mkdir()
    onnx.save(model, str(path))
    return path


def test_external_data_read_and_hostile_locations_refused(tmp_path):
    path = _external_model(tmp_path, "m.data")
    data = np.random.default_rng(0).standard_normal((16, 16)).astype(np.float32)
    data.tofile(path.parent / "m.data")
    graph = convert.from_onnx(path)
    assert_close(graph.weights["w"], data)
    (tmp_path / "secret.bin").write_bytes(b"\0" * 1024)
    bad = tmp_path / "bad"
    bad.mkdir()
    p = _external_model(bad, "../../secret.bin")
    with pytest.raises(ModelLoadError, match="outside the model's folder"):
        convert.from_onnx(p)
    short = tmp_path / "short"
    short.mkdir()
    p = _external_model(short, "m.data")
    (p.parent / "m.data").write_bytes(b"\0" * 100)
    with pytest.raises(ModelLoadError, match="declares 1024 bytes"):
        convert.from_onnx(p)


@pytest.mark.parametrize("cut", [0.0, 0.3, 0.7, 0.97])
def test_truncated_file_is_a_clean_load_error(cnn_onnx, tmp_path, cut):
    _, path = cnn_onnx
    raw = path.read_bytes()
    bad = tmp_path / "cut.onnx"
    bad.write_bytes(raw[:int(len(raw) * cut)])
    with pytest.raises(ModelLoadError):
        convert.load_model(str(bad))


def test_foreign_file_named_onnx_is_a_clean_load_error(tmp_path):
    bad = tmp_path / "text.onnx"
    bad.write_text("name: 'not a model'\nlayer { type: 'ReLU' }\n")
    with pytest.raises(ModelLoadError):
        convert.load_model(str(bad))


def test_keras_model_through_own_onnx_exporter_back_to_torch(tmp_path):
    """A Keras model written to ONNX by this project's exporter, read back as an ONNX
    source, matches Keras itself (NHWC interface kept by the exporter)."""
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 8, 3))
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.MaxPooling2D()(y)
    y = keras.layers.Flatten()(y)
    out = keras.layers.Dense(5)(y)
    model = keras.Model(inp, out)
    bn = model.layers[2]
    bn.moving_mean.assign(np.random.default_rng(1).standard_normal(4).astype(np.float32) * 0.1)
    bn.moving_variance.assign(np.random.default_rng(2).uniform(0.5, 1.5, 4).astype(np.float32))
    path = tmp_path / "k.onnx"
    convert.export(convert.from_keras(model), path)
    graph = convert.from_onnx(path)
    x = np.random.default_rng(3).standard_normal((2, 6, 8, 3)).astype(np.float32)
    want = np.asarray(model(x))
    with torch.no_grad():
        got = convert.to_torch(graph)(torch.from_numpy(x)).numpy()
    assert_close(got, want, rtol=1e-4, atol=1e-5)
    got_keras = np.asarray(convert.to_keras(convert.optimize(graph))(x))
    assert_close(got_keras, want, rtol=1e-4, atol=1e-5)
    other = np.asarray(model(np.random.default_rng(4).standard_normal(x.shape).astype(np.float32)))
    assert np.abs(other - want).max() > 1e-2


def _i64(name, values):
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


# (id, opset, node, extra initializers, input shape): the handler chosen per opset, checked
# against onnxruntime running the same model at that opset.
OPSET_CASES = [
    ("softmax-11-axis1", 11, helper.make_node("Softmax", ["x"], ["y"], axis=1), [], [2, 3, 4]),
    ("logsoftmax-11-last", 11, helper.make_node("LogSoftmax", ["x"], ["y"], axis=2), [], [2, 3, 4]),
    ("squeeze-11-attr", 11, helper.make_node("Squeeze", ["x"], ["y"], axes=[1]), [], [2, 1, 4]),
    ("squeeze-13-input", 13, helper.make_node("Squeeze", ["x", "a"], ["y"]), [_i64("a", [1])], [2, 1, 4]),
    ("slice-9-attr", 9, helper.make_node("Slice", ["x"], ["y"], starts=[1], ends=[3], axes=[2]), [], [2, 3, 4]),
    ("slice-13-steps", 13, helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"]),
     [_i64("s", [0]), _i64("e", [4]), _i64("a", [2]), _i64("t", [2])], [2, 3, 4]),
    ("clip-6-attr", 6, helper.make_node("Clip", ["x"], ["y"], min=-0.5, max=0.7), [], [2, 3, 4]),
    ("pad-2-attr", 2, helper.make_node("Pad", ["x"], ["y"], pads=[0, 0, 1, 0, 0, 2], mode="reflect"), [], [2, 3, 4]),
    ("reducesum-11-attr", 11, helper.make_node("ReduceSum", ["x"], ["y"], axes=[1], keepdims=0), [], [2, 3, 4]),
    ("reducemean-18-input", 18, helper.make_node("ReduceMean", ["x", "a"], ["y"]), [_i64("a", [-1])], [2, 3, 4]),
    ("upsample-9", 9, helper.make_node("Upsample", ["x", "sc"], ["y"], mode="nearest"),
     [numpy_helper.from_array(np.array([1, 1, 2, 3], np.float32), "sc")], [1, 2, 3, 4]),
    ("split-18-num-outputs", 18, helper.make_node("Split", ["x"], ["y", "z"], axis=2, num_outputs=2), [], [2, 3, 5]),
    ("topk-11", 11, helper.make_node("TopK", ["x", "k"], ["y", "z"], axis=1), [_i64("k", [2])], [2, 3, 4]),
    ("conv-same-upper", 13, helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2]),
     [numpy_helper.from_array(np.random.default_rng(0).standard_normal((2, 3, 3, 2)).astype(np.float32), "w")],
     [1, 3, 5, 6]),
    ("convtranspose-output-shape", 13,
     helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], output_shape=[8, 9]),
     [numpy_helper.from_array(np.random.default_rng(1).standard_normal((3, 2, 3, 3)).astype(np.float32), "w")],
     [1, 3, 4, 4]),
]


@pytest.mark.parametrize("opset,node,inits,shape", [c[1:] for c in OPSET_CASES], ids=[c[0] for c in OPSET_CASES])
def test_handler_per_opset_matches_onnxruntime(opset, node, inits, shape):
    import onnxruntime as ort

    outs = [_vi(o, None, TensorProto.INT64 if (node.op_type, k) == ("TopK", 1) else TensorProto.FLOAT)
            for k, o in enumerate(node.output)]
    model = _model([node], [_vi("x", shape)], outs, inits, opset=opset)
    model.ir_version = 7
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    with torch.no_grad():
        got = convert.to_torch(convert.from_onnx(model))(torch.from_numpy(x))
    got = got if isinstance(got, (tuple, list)) else [got]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert_close(g.numpy(), w, rtol=1e-5, atol=1e-6)


def test_hostile_constant_fills_are_bounded(monkeypatch):
    """A few bytes asking for many ConstantOfShape fills end in a load error, not an OOM
    kill (the total bound is lowered here so that the test itself stays small)."""
    from convert.importers.onnx import importer

    monkeypatch.setattr(importer, "MAX_FOLD_TOTAL_BYTES", 64 * 2**20)
    shape = numpy_helper.from_array(np.array([2**11, 2**11], np.int64), "s")  # 16 MiB each
    nodes = [helper.make_node("ConstantOfShape", ["s"], [f"c{k}"]) for k in range(6)]
    nodes += [helper.make_node("Sum", [f"c{k}" for k in range(6)] + ["x"], ["y"])]
    model = _model(nodes, [_vi("x", [1])], [_vi("y", None)], [shape])
    with pytest.raises(ModelLoadError, match="hostile"):
        convert.from_onnx(model)
