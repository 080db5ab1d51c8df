"""OneHot from ONNX (opset 9 and 11+) to PyTorch (module, .pt2, torch source), back to
ONNX, to Keras and to LiteRT, compared with onnxruntime on the source model: every axis,
negative and out-of-range indices, integer and float values, integer and float indices.
F.one_hot from torch (both tracers) and keras.ops.one_hot from a .keras file, compared
with their own frameworks."""
from __future__ import annotations

import numpy as np
import pytest

import convert
from onnx_run import run_ort, single_node

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

DEPTH = 5
# every index class at once: in range, negative from the end, below -depth, past depth
INDICES = np.array([[0, 4, -1, -5, 7, -6], [2, 5, -3, 1, -9, 3]], np.int64)
OTHER = np.array([[1, 3, -2, -4, 0, 2], [4, 0, -1, 2, 1, -5]], np.int64)


def _model(indices, values, axis=None, opset=13, depth=DEPTH):
    attrs = {} if axis is None else {"axis": axis}
    # the depth type onnxruntime has a kernel for with these indices and values
    kind = np.float32 if values.dtype == np.int32 or indices.dtype != np.int64 else np.int64
    return single_node("OneHot", {"indices": indices}, {"depth": np.array(depth, kind), "values": values},
                       [values.dtype], opset=opset, **attrs)


def _torch(graph, x):
    with torch.no_grad():
        return convert.to_torch(graph)(torch.from_numpy(x)).numpy()


# axis: every position of the new axis in the rank-3 output, both spellings
CASES = [(axis, values) for axis in (None, 0, 1, 2, -1, -2, -3)
         for values in (np.array([2, 7], np.int32), np.array([-0.5, 1.25], np.float32))]


@pytest.mark.parametrize("axis,values", CASES, ids=[f"axis{a}-{v.dtype}" for a, v in CASES])
def test_matches_onnxruntime_in_torch_and_onnx(axis, values):
    model = _model(INDICES, values, axis)
    want = run_ort(model, {"indices": INDICES})[0]
    graph = convert.from_onnx(model)
    got = _torch(graph, INDICES)
    assert got.dtype == want.dtype and np.array_equal(got, want)
    assert np.array_equal(run_ort(convert.to_onnx(graph, 13), {"indices": INDICES})[0], want)
    assert not np.array_equal(_torch(graph, OTHER), want)  # the indices drive the output


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int8])
def test_indices_of_other_types(dtype):
    """Float indices (as the conformance suite's with_axis case) are truncated, as in onnxruntime."""
    x, values = INDICES.astype(dtype), np.array([0, 1], np.float32)
    model = _model(x, values, axis=1)
    # onnxruntime has no kernel for int8 indices: the same indices as int64 are the reference
    want = run_ort(model if dtype != np.int8 else _model(INDICES, values, axis=1), {"indices": INDICES.astype(
        dtype if dtype != np.int8 else np.int64)})[0]
    graph = convert.from_onnx(model)
    assert np.array_equal(_torch(graph, x), want)
    assert np.array_equal(run_ort(convert.to_onnx(graph, 13), {"indices": x})[0], want)


def test_opset_9_puts_negative_indices_off():
    """Before opset 11 the spec reads every index outside [0, depth) as off; onnxruntime
    counts negative ones from the end at every opset, so the reference is the spec's."""
    values = np.array([0, 1], np.float32)
    got = _torch(convert.from_onnx(_model(INDICES, values, opset=9)), INDICES)
    want = (INDICES[..., None] == np.arange(DEPTH)).astype(np.float32)  # in range only
    assert np.array_equal(got, want)
    ort_11 = run_ort(_model(INDICES, values, opset=11), {"indices": INDICES})[0]
    assert not np.array_equal(got, ort_11)


@pytest.fixture(scope="module")
def source():
    """A model with a dynamic batch."""
    model = _model(INDICES, np.array([-1.5, 3.0], np.float32), axis=0)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    return model


@pytest.fixture(scope="module")
def graph(source):
    return convert.from_onnx(source)


@pytest.fixture(scope="module")
def want(source):
    return run_ort(source, {"indices": INDICES})[0]


def test_pt2_and_torch_source(source, graph, want, tmp_path):
    convert.export(graph, tmp_path / "m.pt2")
    program = torch.export.load(str(tmp_path / "m.pt2")).module()
    with torch.no_grad():
        assert np.array_equal(program(torch.from_numpy(INDICES)).numpy(), want)
        one = run_ort(source, {"indices": OTHER[:1]})[0]  # another batch size
        assert np.array_equal(program(torch.from_numpy(OTHER[:1])).numpy(), one)
    back = convert.load_model(str(tmp_path / "m.pt2")).graph  # nnconvert reads its own .pt2 (verify does)
    assert "OneHot" in [n.op for n in back.nodes]
    assert np.array_equal(_torch(back, INDICES), want)
    convert.export(graph, tmp_path / "src.py", "torch-source")
    import importlib.util

    spec = importlib.util.spec_from_file_location("onehot_src", tmp_path / "src.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with torch.no_grad():
        assert np.array_equal(mod.load_model()(torch.from_numpy(INDICES)).numpy(), want)


KERAS_CASES = [(None, np.array([2, 7], np.int32)), (0, np.array([-0.5, 1.25], np.float32)),
               (1, np.array([0, 1], np.int64)), (-2, np.array([-0.5, 1.25], np.float32))]


@pytest.mark.parametrize("axis,values", KERAS_CASES, ids=[f"axis{a}-{v.dtype}" for a, v in KERAS_CASES])
def test_keras(axis, values, tmp_path):
    keras = pytest.importorskip("keras")
    model = _model(INDICES, values, axis)
    want = run_ort(model, {"indices": INDICES})[0]
    path = tmp_path / "m.keras"
    convert.export(convert.from_onnx(model), path)
    loaded = keras.saving.load_model(str(path))
    got = np.asarray(loaded(INDICES))
    assert got.dtype == want.dtype and np.array_equal(got, want)
    assert not np.array_equal(np.asarray(loaded(OTHER)), want)


def test_depth_at_run_time_is_refused_by_name():
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("OneHot", ["i", "d", "v"], ["y"], name="hot")], "g",
                          [helper.make_tensor_value_info("i", TensorProto.INT64, [3]),
                           helper.make_tensor_value_info("d", TensorProto.INT64, [])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [helper.make_tensor(
                              "v", TensorProto.FLOAT, [2], [0.0, 1.0])])
    with pytest.raises(convert.UnsupportedError, match="hot"):
        convert.from_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]))


def test_caffe_refuses_by_name(graph, tmp_path):
    with pytest.raises(convert.UnsupportedError, match="OneHot"):
        convert.export(graph, tmp_path / "m.prototxt")
    assert list(tmp_path.iterdir()) == []


LITERT_CASES = [(None, np.array([2, 7], np.int32)), (0, np.array([-0.5, 1.25], np.float32)),
                (-2, np.array([0, 1], np.int64))]


@pytest.mark.parametrize("axis,values", LITERT_CASES, ids=[f"axis{a}-{v.dtype}" for a, v in LITERT_CASES])
def test_litert(axis, values, tmp_path):
    pytest.importorskip("ai_edge_litert")
    from litert_run import run_litert

    model = _model(INDICES, values, axis)
    want = run_ort(model, {"indices": INDICES})[0]
    convert.export(convert.from_onnx(model), tmp_path / "m.tflite")
    got = run_litert(tmp_path / "m.tflite", INDICES)
    assert got.dtype == want.dtype and np.array_equal(got, want)
    assert not np.array_equal(run_litert(tmp_path / "m.tflite", OTHER), want)


def test_litert_refuses_half_values_by_name(tmp_path):
    from convert.exporters.tflite import unsupported

    graph = convert.from_onnx(_model(INDICES, np.array([0, 1], np.float16)))
    assert [(u.layer_type, u.attribute) for u in unsupported(graph)] == [("OneHot", "dtype")]


class _OneHot(torch.nn.Module):
    def __init__(self, n: int = DEPTH):
        super().__init__()
        self.n = n

    def forward(self, x):
        return torch.nn.functional.one_hot(x, self.n).float() * 2.0 - 0.5


@pytest.mark.parametrize("tracer", ["fx", "export"])
def test_from_torch(tracer):
    """F.one_hot (aten.one_hot in torch.export) to IR OneHot, run back in torch and onnxruntime."""
    x, other = (torch.from_numpy(np.abs(a) % DEPTH) for a in (INDICES, OTHER))
    graph = convert.from_torch(_OneHot(), (x,), tracer=tracer)
    assert "OneHot" in [n.op for n in graph.nodes]
    want = _OneHot()(x).numpy()
    assert np.array_equal(_torch(graph, x.numpy()), want)
    assert np.array_equal(run_ort(convert.to_onnx(graph, 13), {graph.inputs[0].name: x.numpy()})[0], want)
    assert not np.array_equal(_torch(graph, other.numpy()), want)


def test_from_torch_without_num_classes_is_refused():
    x = torch.from_numpy(np.abs(INDICES) % DEPTH)
    with pytest.raises(convert.UnsupportedError, match="num_classes"):
        convert.from_torch(_OneHot(-1), (x,), tracer="fx")


def test_from_keras(tmp_path):
    """keras.ops.one_hot: a negative index (and one past depth on TensorFlow) is a row of zeros."""
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("an index past depth is an error on torch")
    x = keras.Input((6,), dtype="int32")
    model = keras.Model(x, keras.ops.one_hot(x, DEPTH, axis=1) * 3.0 - 1.0)
    model.save(tmp_path / "m.keras")
    graph = convert.load_model(str(tmp_path / "m.keras")).graph
    ids = INDICES.astype(np.int32)
    want = np.asarray(model(ids))
    assert want[0, :, 2].tolist() == [-1.0] * DEPTH  # index -1: all off in Keras
    assert np.array_equal(_torch(graph, ids), want)
    assert not np.array_equal(_torch(graph, OTHER.astype(np.int32)), want)
