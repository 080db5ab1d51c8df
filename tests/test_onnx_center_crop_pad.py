"""ONNX CenterCropPad read as IR Slice + Pad (odd differences put the extra sample at the
end), compared with onnxruntime at a dynamic batch size."""
from __future__ import annotations

import numpy as np
import pytest

import convert

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _model(target: list[int], axes: list[int]):
    node = helper.make_node("CenterCropPad", ["x", "shape"], ["y"], axes=axes)
    g = helper.make_graph([node], "ccp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 6, 7])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(np.array(target, np.int64), "shape")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])


@pytest.mark.parametrize("target,axes", [([3, 4], [2, 3]), ([9, 10], [-2, -1]), ([3, 10], [2, 3]), ([5, 3], [1, 3])])
def test_matches_onnxruntime(target, axes):
    model = _model(target, axes)
    x = np.random.default_rng(0).standard_normal((3, 3, 6, 7)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    graph = convert.from_onnx(model)
    assert {n.op for n in graph.nodes} <= {"Slice", "Pad"}
    with torch.no_grad():
        module = convert.to_torch(graph)
        got = module(torch.from_numpy(x)).numpy()
        other = module(torch.from_numpy(x[::-1].copy())).numpy()
    assert np.array_equal(got, want)
    assert not np.array_equal(other, want)
