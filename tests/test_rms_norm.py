"""RMSNormalization end to end: torch nn.RMSNorm / F.rms_norm and ONNX RMSNormalization
read into the IR, written to PyTorch, ONNX (opset 23 native, older opsets decomposed) and
Keras, each compared with the source framework's own output."""
from __future__ import annotations

import numpy as np
import pytest

import convert
from helpers import assert_close, run_onnx

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(6, 8)
        self.norm = torch.nn.RMSNorm(8, eps=1e-5)
        self.head = torch.nn.Linear(8, 4)

    def forward(self, x):
        y = self.norm(self.fc(x))
        y = torch.nn.functional.rms_norm(y, (3, 8))  # no weight, torch's default eps
        return self.head(y)  # logits


def _x(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((2, 3, 6)).astype(np.float32)


@pytest.fixture(scope="module")
def torch_case():
    torch.manual_seed(0)
    m = Net().eval()
    with torch.no_grad():
        m.norm.weight.copy_(torch.rand(8) + 0.5)  # the constructor fills ones
    graph = convert.from_torch(m, (torch.from_numpy(_x(1)),))
    with torch.no_grad():
        want = m(torch.from_numpy(_x(2))).numpy()
    return graph, want


def _torch_out(graph, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return convert.to_torch(graph)(torch.from_numpy(x)).numpy()


def test_torch_import_uses_the_ir_op(torch_case):
    graph, _ = torch_case
    assert [n.attrs.get("axis") for n in graph.nodes if n.op == "RMSNormalization"] == [-1, -2]


def test_torch_to_torch(torch_case):
    graph, want = torch_case
    assert_close(_torch_out(graph, _x(2)), want, RTOL, ATOL, "RMSNorm torch -> IR -> torch")


@pytest.mark.parametrize("opset", [23, 18])
def test_torch_to_onnx(torch_case, opset):
    graph, want = torch_case
    model = convert.to_onnx(graph, opset)
    assert ("RMSNormalization" in {n.op_type for n in model.graph.node}) == (opset >= 23)
    out = run_onnx(graph, {graph.inputs[0].name: _x(2)}, opset=opset)
    assert_close(next(iter(out.values())), want, RTOL, ATOL, f"RMSNorm torch -> ONNX opset {opset}")


def test_torch_to_keras(torch_case):
    pytest.importorskip("keras")
    graph, want = torch_case
    got = np.asarray(convert.to_keras(graph)(_x(2)))
    assert_close(got, want, RTOL, ATOL, "RMSNorm torch -> Keras")


def test_check_can_fail(torch_case):
    """Another input and a 1% change to the RMSNorm scale move the output far past the tolerance."""
    graph, want = torch_case
    assert np.abs(_torch_out(graph, _x(3)) - want).max() > 100 * ATOL
    scale = next(n.inputs[1] for n in graph.nodes if n.op == "RMSNormalization")
    old = graph.weights[scale].copy()
    try:
        bumped = old.copy()
        bumped[4] *= np.float32(1.01)  # one entry: the second, weightless RMSNorm would cancel a uniform change
        graph.weights[scale] = bumped
        assert np.abs(_torch_out(graph, _x(2)) - want).max() > 100 * ATOL
    finally:
        graph.weights[scale] = old


def _onnx_rms(axis: int, opset: int = 23):
    rng = np.random.default_rng(0)
    shape = (2, 3, 4, 5)
    scale = (rng.random(shape[axis:]) + 0.5).astype(np.float32)
    node = helper.make_node("RMSNormalization", ["x", "scale"], ["y"], axis=axis, epsilon=1e-4)
    g = helper.make_graph([node], "rms", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *shape[1:]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(scale, "scale")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _ort(model, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


@pytest.mark.parametrize("axis", [1, 2, 3])
def test_onnx_source_to_torch_and_keras(axis):
    model = _onnx_rms(axis)
    x = np.random.default_rng(5).standard_normal((3, 3, 4, 5)).astype(np.float32) * 3
    want = _ort(model, x)
    graph = convert.from_onnx(model)
    got = _torch_out(graph, x)
    assert_close(got, want, RTOL, ATOL, f"ONNX RMSNormalization axis {axis} -> torch")
    assert np.abs(_torch_out(graph, x[::-1].copy()) - want).max() > 100 * ATOL
    if axis >= 2:  # the C axis moves in Keras' layout: the normalised axes follow it
        pytest.importorskip("keras")
        assert_close(np.asarray(convert.to_keras(graph)(x)), want, RTOL, ATOL, f"axis {axis} -> Keras")


def test_caffe_refuses_by_name(torch_case, tmp_path):
    from convert.errors import UnsupportedError

    graph, _ = torch_case
    with pytest.raises(UnsupportedError, match="RMSNormalization"):
        convert.export(graph, tmp_path / "m.prototxt", "caffe")
