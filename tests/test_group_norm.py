"""GroupNormalization from torch (nn.GroupNorm, F.group_norm) and ONNX (opset 18: scale per
group; opset 21: per channel) to ONNX (native at opset 21, decomposed below), torch and
Keras, compared with the source framework; Caffe refuses it by name."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_close, run_onnx

torch = pytest.importorskip("torch")
nn = torch.nn
X_SHAPE = (2, 3, 7, 6)


class FunctionalGN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 3)
        self.w, self.b = nn.Parameter(torch.randn(6)), nn.Parameter(torch.randn(6))

    def forward(self, x):
        return torch.nn.functional.group_norm(self.conv(x), 2, self.w, self.b, eps=1e-3)


def _module():
    m = nn.Sequential(nn.Conv2d(3, 6, 3), nn.GroupNorm(3, 6, eps=1e-4), nn.ReLU(), nn.Conv2d(6, 4, 1))
    with torch.no_grad():  # GroupNorm starts at weight 1, bias 0: give its affine signal
        m[1].weight.copy_(torch.rand(6) + 0.5)
        m[1].bias.copy_(torch.randn(6) * 0.3)
    return m.eval()


CASES = {"module_2d": (_module, X_SHAPE), "functional_1d": (lambda: FunctionalGN().eval(), (2, 4, 9))}


@pytest.fixture(scope="module", params=sorted(CASES))
def source(request):
    from convert.importers.torch import from_torch

    make, shape = CASES[request.param]
    torch.manual_seed(0)
    model = make()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    graph = from_torch(model, (torch.from_numpy(x),))
    assert "GroupNormalization" in {n.op for n in graph.nodes}
    return request.param, model, graph, shape


def _ref(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def _xs(shape):
    rng = np.random.default_rng(5)
    return [rng.standard_normal(shape).astype(np.float32), rng.standard_normal((3, *shape[1:])).astype(np.float32)]


@pytest.mark.parametrize("opset", [17, 21])
def test_torch_group_norm_to_onnx(source, opset):
    name, model, graph, shape = source
    for x in _xs(shape):
        got = run_onnx(graph, {graph.inputs[0].name: x}, opset=opset)[graph.outputs[0].name]
        assert_close(got, _ref(model, x), 1e-4, 1e-5, f"{name} opset {opset}")


def test_torch_group_norm_to_torch(source):
    from convert.exporters.torch import to_torch

    name, model, graph, shape = source
    out = to_torch(graph)
    for x in _xs(shape):
        assert_close(out(torch.from_numpy(x)).detach().numpy(), _ref(model, x), 1e-4, 1e-5, name)


def test_torch_group_norm_to_keras(source):
    pytest.importorskip("keras")
    from convert.exporters.keras import to_keras

    name, model, graph, shape = source
    km = to_keras(graph)
    assert "GroupNormalization" in {type(layer).__name__ for layer in km.layers}
    for x in _xs(shape):
        assert_close(np.asarray(km(x, training=False)), _ref(model, x), 1e-4, 1e-5, name)


def test_group_norm_output_carries_signal(source):
    name, model, graph, shape = source
    x, other = _xs(shape)
    base = _ref(model, x)
    assert np.abs(_ref(model, other[:2]) - base).max() > 1e-2
    gn = next(m for m in model.modules() if isinstance(m, nn.GroupNorm)) if name == "module_2d" else model
    with torch.no_grad():
        (gn.weight if name == "module_2d" else gn.w).mul_(1.01)
    assert np.abs(_ref(model, x) - base).max() > 1e-3


def test_caffe_refuses_group_norm_by_name(source):
    from convert.exporters.caffe import unsupported

    _, _, graph, _ = source
    problems = unsupported(graph)
    assert any(p.layer_type == "GroupNormalization" for p in problems), problems


def _onnx_group_norm(opset: int, c: int = 6, groups: int = 3):
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    n = c if opset >= 21 else groups
    scale = (rng.random(n) + 0.5).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    node = helper.make_node("GroupNormalization", ["x", "scale", "bias"], ["y"], num_groups=groups, epsilon=1e-3)
    g = helper.make_graph([node], "gn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", c, 5, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", c, 5, 4])],
                          [numpy_helper.from_array(scale, "scale"), numpy_helper.from_array(bias, "bias")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)


@pytest.mark.parametrize("opset", [18, 21])
def test_onnx_group_norm_import_per_group_and_per_channel(opset):
    """The source model runs in onnxruntime; the import is re-exported and run there too."""
    ort = pytest.importorskip("onnxruntime")
    from convert.importers.onnx import from_onnx

    model = _onnx_group_norm(opset)
    x = np.random.default_rng(2).standard_normal((2, 6, 5, 4)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    graph = from_onnx(model)
    scale = graph.weights[next(n for n in graph.nodes if n.op == "GroupNormalization").inputs[1]]
    assert scale.shape == (6,)  # per channel in the IR, whatever the source opset
    for target_opset in (17, 21):
        got = run_onnx(graph, {graph.inputs[0].name: x}, opset=target_opset)[graph.outputs[0].name]
        assert_close(got, want, 1e-4, 1e-5, f"from opset {opset} to {target_opset}")
