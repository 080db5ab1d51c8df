"""ONNX GridSample to PyTorch (F.grid_sample) and back to ONNX (opset 16 and 20 spellings),
compared with onnxruntime running the source model on random inputs and grids that reach
past the border (so every padding mode matters)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import convert

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5


def _model(mode: str, padding: str, align: int, spatial=(4, 5), opset: int = 20):
    nd = len(spatial)
    node = helper.make_node("GridSample", ["x", "grid"], ["y"], mode=mode, padding_mode=padding, align_corners=align)
    g = helper.make_graph([node], "gs", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, *spatial]),
                                         helper.make_tensor_value_info("grid", TensorProto.FLOAT,
                                                                       ["N", *([3] * nd), nd])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _feeds(seed: int, spatial=(4, 5)) -> dict:
    rng = np.random.default_rng(seed)
    nd = len(spatial)
    return {"x": rng.standard_normal((2, 2, *spatial)).astype(np.float32),
            "grid": rng.uniform(-1.3, 1.3, (2, *([3] * nd), nd)).astype(np.float32)}


def _ort(model, feeds):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def _torch(graph, feeds):
    with torch.no_grad():
        return convert.to_torch(graph)(*[torch.from_numpy(v) for v in feeds.values()]).numpy()


CASES = list(itertools.product(["linear", "nearest", "cubic"], ["zeros", "border", "reflection"], [0, 1]))


@pytest.mark.parametrize("mode,padding,align", CASES)
def test_2d_matches_onnxruntime(mode, padding, align):
    model = _model(mode, padding, align)
    feeds = _feeds(0)
    want = _ort(model, feeds)
    graph = convert.from_onnx(model)
    np.testing.assert_allclose(_torch(graph, feeds), want, RTOL, ATOL)
    for opset in (16, 20):
        np.testing.assert_allclose(_ort(convert.to_onnx(graph, opset), feeds), want, RTOL, ATOL)
    assert np.abs(_torch(graph, _feeds(1)) - want).max() > 100 * ATOL


@pytest.mark.parametrize("mode", ["linear", "nearest"])
def test_3d_matches_onnxruntime(mode):
    model = _model(mode, "border", 0, spatial=(3, 4, 5))
    feeds = _feeds(2, (3, 4, 5))
    np.testing.assert_allclose(_torch(convert.from_onnx(model), feeds), _ort(model, feeds), RTOL, ATOL)


def test_3d_cubic_refused_by_name():
    from convert.errors import UnsupportedError

    graph = convert.from_onnx(_model("cubic", "zeros", 0, spatial=(3, 4, 5)))
    with pytest.raises(UnsupportedError, match="GridSample"):
        convert.to_torch(graph)
