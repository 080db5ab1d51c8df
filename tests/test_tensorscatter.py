"""ONNX TensorScatter (opset 24, the KV-cache update) read into the IR op of the same name
and written to a PyTorch module, a ``.pt2``, ONNX (natively at 24, as ScatterElements
at 17) and a ``.keras`` file. The oracle is onnxruntime running the source model; the op copies elements, so
results must match bit for bit, and another write position or update must change them."""
from __future__ import annotations

import numpy as np
import pytest

import convert
from convert.errors import UnsupportedAttributeError, UnsupportedError

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx_run import run_ort, run_torch  # noqa: E402

# (past_cache shape, update length along axis, axis, mode, write_indices or None)
CASES = {
    "4d_linear_axis-2": ((2, 3, 6, 4), 2, -2, "linear", [1, 4]),
    "4d_circular_axis-2": ((2, 3, 6, 4), 3, -2, "circular", [5, 2]),
    "4d_linear_axis1_no_indices": ((2, 5, 3, 4), 2, 1, "linear", None),
    "4d_circular_axis1": ((3, 5, 2, 4), 4, 1, "circular", [3, 0, 9]),
    "3d_linear_default_axis": ((3, 5, 4), 2, None, "linear", [0, 3, 1]),
    "3d_circular_axis-1": ((2, 3, 6), 4, -1, "circular", [4, 1]),
    "3d_circular_no_indices": ((2, 4, 3), 4, -2, "circular", None),
}


def _model(past: np.ndarray, update: np.ndarray, axis, mode: str, with_indices: bool):
    from onnx import TensorProto, helper

    names = ["past_cache", "update"] + (["write_indices"] if with_indices else [])
    attrs = {"mode": mode} | ({} if axis is None else {"axis": axis})
    vis = [helper.make_tensor_value_info("past_cache", TensorProto.FLOAT, past.shape),
           helper.make_tensor_value_info("update", TensorProto.FLOAT, update.shape)]
    if with_indices:
        vis.append(helper.make_tensor_value_info("write_indices", TensorProto.INT64, [past.shape[0]]))
    g = helper.make_graph([helper.make_node("TensorScatter", names, ["present_cache"], **attrs)], "kv", vis,
                          [helper.make_tensor_value_info("present_cache", TensorProto.FLOAT, past.shape)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 24)])


def _feeds(shape, length, axis, indices, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    ax = (-2 if axis is None else axis) % len(shape)
    upd = tuple(length if d == ax else n for d, n in enumerate(shape))
    feeds = {"past_cache": rng.standard_normal(shape).astype(np.float32),
             "update": rng.standard_normal(upd).astype(np.float32)}
    if indices is not None:
        feeds["write_indices"] = np.asarray(indices, np.int64)
    return feeds


def _others(feeds: dict, shape, axis) -> list[dict]:
    """Inputs that must change the result: another update, and other write positions."""
    out = [dict(feeds, update=feeds["update"] + 1)]
    if "write_indices" in feeds:
        ax = (-2 if axis is None else axis) % len(shape)
        room = shape[ax] - feeds["update"].shape[ax]  # linear mode must stay inside the cache
        out.append(dict(feeds, write_indices=(feeds["write_indices"] + 1) % max(room + 1, 1)))
    return out


def _same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def _moves(run, feeds: dict, shape, axis) -> None:
    for other in _others(feeds, shape, axis):
        assert not np.array_equal(run(other), run(feeds))


@pytest.mark.parametrize("name", CASES)
def test_tensor_scatter(name, tmp_path):
    shape, length, axis, mode, indices = CASES[name]
    feeds = _feeds(shape, length, axis, indices)
    model = _model(feeds["past_cache"], feeds["update"], axis, mode, indices is not None)
    want = run_ort(model, feeds)[0]
    assert not np.array_equal(want, feeds["past_cache"])  # the update landed
    graph = convert.from_onnx(model)
    assert [n.op for n in graph.nodes] == ["TensorScatter"]

    _same(run_torch(graph, feeds)[0], want)
    for other in _others(feeds, shape, axis):  # the module follows the inputs, not a baked answer
        _same(run_torch(graph, other)[0], run_ort(model, other)[0])
    _moves(lambda f: run_torch(graph, f)[0], feeds, shape, axis)

    for opset in (24, 17):  # native, and ScatterElements below 24
        written = convert.to_onnx(graph, opset)
        assert ("TensorScatter" in {n.op_type for n in written.graph.node}) == (opset >= 24)
        _same(run_ort(written, feeds)[0], want)
        for other in _others(feeds, shape, axis):
            _same(run_ort(written, other)[0], run_ort(model, other)[0])

    path = tmp_path / "kv.pt2"
    convert.export(graph, path)
    program = torch.export.load(str(path)).module()

    def run_pt2(f: dict) -> np.ndarray:
        with torch.no_grad():
            return program(*[torch.from_numpy(v) for v in f.values()]).numpy()

    _same(run_pt2(feeds), want)
    for other in _others(feeds, shape, axis):
        _same(run_pt2(other), run_ort(model, other)[0])


@pytest.mark.parametrize("name", CASES)
def test_tensor_scatter_to_keras(name, tmp_path):
    """A ``.keras`` file (keras.ops gather and select), loaded back, in the ONNX (IR) layout."""
    keras = pytest.importorskip("keras")
    shape, length, axis, mode, indices = CASES[name]
    feeds = _feeds(shape, length, axis, indices)
    model = _model(feeds["past_cache"], feeds["update"], axis, mode, indices is not None)
    convert.export(convert.from_onnx(model), tmp_path / "kv.keras")
    loaded = keras.saving.load_model(tmp_path / "kv.keras")
    for f in [feeds] + _others(feeds, shape, axis):
        _same(np.asarray(loaded(list(f.values()))), run_ort(model, f)[0])


def test_batch_axis_refused():
    feeds = _feeds((2, 3, 4), 2, 1, [0, 1])
    model = _model(feeds["past_cache"], feeds["past_cache"], 0, "linear", True)
    with pytest.raises(UnsupportedError, match="axis"):
        convert.from_onnx(model)


@pytest.mark.parametrize("suffix", [".tflite", ".prototxt"])
def test_refused_by_name(suffix, tmp_path):
    feeds = _feeds((2, 3, 6, 4), 2, -2, [1, 4])
    graph = convert.from_onnx(_model(feeds["past_cache"], feeds["update"], -2, "circular", True))
    with pytest.raises(UnsupportedError, match="TensorScatter"):
        convert.export(graph, tmp_path / f"m{suffix}")
    assert not list(tmp_path.iterdir())


def test_unknown_rank_below_24_refused():
    """Without a rank the decomposition cannot place the positions; opset 24 needs none."""
    from convert.ir import Graph, Node, Value

    graph = Graph("kv", [Value("p", "float32", None), Value("u", "float32", None)], [Value("y", "float32", None)],
                  [Node("TensorScatter", "ts", ["p", "u"], ["y"], {"axis": -2, "mode": "linear"})], {})
    convert.to_onnx(graph, 24)
    with pytest.raises((UnsupportedError, UnsupportedAttributeError), match="opset 24"):
        convert.to_onnx(graph, 17)
