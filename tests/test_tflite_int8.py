"""Full int8 .tflite (``--quantize int8 --calibration``): a small CNN with calibrated
BatchNorm, quantized from calibration ranges, run in LiteRT's interpreter and compared
against the SOURCE torch model; the accuracy change is bounded in output quantization
steps and printed. Ops without an int8 form are refused by name, nothing written."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("ai_edge_litert")
nn = torch.nn
F = torch.nn.functional
SHAPE = (3, 12, 10)
STEPS = 3  # allowed error, in quantization steps of each output


class Net(nn.Module):
    """conv+BN+relu, depthwise relu6, a residual add, concat with a max pool, a slice,
    global mean, dense softmax head, and a sigmoid map (fixed-scale outputs)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.c2 = nn.Conv2d(8, 8, 1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        y = torch.relu(self.bn(self.c1(x)))
        z = F.relu6(self.dw(y))
        z = z + self.c2(z)
        z = torch.cat([z, F.max_pool2d(y, 2)], 1)[:, :8]
        return torch.softmax(self.fc(z.mean((2, 3))), -1), torch.sigmoid(z)


def _quantize(model, path):
    """``model`` imported from torch and written as full int8 to ``path`` (same calibration
    inputs every time)."""
    import convert
    from convert.api import prepare
    from convert.exporters.tflite import to_tflite

    graph, _ = prepare(convert.from_torch(model, (torch.randn(2, *SHAPE),)))
    rng = np.random.default_rng(0)
    calibration = {graph.inputs[0].name: rng.standard_normal((32, *SHAPE)).astype(np.float32)}
    data, ctx = to_tflite(graph, quantize="int8", calibration=calibration, io_layout="nhwc")
    path.write_bytes(data)
    return graph, calibration, ctx


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    torch.manual_seed(0)
    model = Net()
    model.train()
    with torch.no_grad():  # BatchNorm statistics from a batch, not the identity
        model(torch.randn(16, *SHAPE) * 1.5 + 0.2)
    model.eval()
    folder = tmp_path_factory.mktemp("int8")
    graph, calibration, ctx = _quantize(model, folder / "int8.tflite")
    np.savez(folder / "calib.npz", **calibration)
    return model, graph, folder, ctx


def _run(path, graph, x):
    from convert.exporters.tflite.runner import LiteRTModel

    out = LiteRTModel(path, ([v.name for v in graph.inputs], [v.name for v in graph.outputs])).run(
        {graph.inputs[0].name: x})
    return [out[v.name] for v in graph.outputs]


def _output_scales(path) -> list[float]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    details = {d["index"]: d for d in interp.get_tensor_details()}
    scales = []
    for op in interp._get_ops_details():  # the DEQUANTIZE before each float output
        if op["op_name"] == "DEQUANTIZE":
            scales.append(details[op["inputs"][0]]["quantization"][0])
    return scales


def test_int8_file_is_int8_inside(quantized):
    from ai_edge_litert.interpreter import Interpreter

    _, graph, folder, ctx = quantized
    interp = Interpreter(model_path=str(folder / "int8.tflite"))
    ops = {op["op_name"] for op in interp._get_ops_details()}
    assert ops >= {"QUANTIZE", "DEQUANTIZE", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}, ops
    details = interp.get_tensor_details()
    floats = [d["name"] for d in details if d["dtype"] == np.float32]
    assert len(floats) == len(graph.inputs) + len(graph.outputs), floats  # the float interface only
    conv_w = [d for d in details if d["dtype"] == np.int8 and len(d["quantization_parameters"]["scales"]) > 1]
    assert conv_w, "per-channel int8 weights"
    assert ctx.transposes == 0


def test_int8_matches_torch_within_bounded_steps(quantized):
    model, graph, folder, _ = quantized
    path = folder / "int8.tflite"
    scales = _output_scales(path)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, *SHAPE)).astype(np.float32)
    with torch.no_grad():
        refs = [t.numpy() for t in model(torch.from_numpy(x))]
    got = _run(path, graph, x)
    for g, r, s, v in zip(got, refs, scales, graph.outputs):
        err = float(np.abs(g - r).max())
        print(f"int8 {v.name}: max abs error {err:.4g} = {err / s:.2f} steps of {s:.4g}; output range {np.ptp(r):.3g}")
        assert err <= STEPS * s, (v.name, err, s)
    assert (got[0].argmax(-1) == refs[0].argmax(-1)).all()
    # another input moves the outputs far past the bound: the comparison has signal
    with torch.no_grad():
        other = model(torch.from_numpy(x[::-1].copy()))[1].numpy()
    assert np.abs(other - refs[1]).max() > 10 * STEPS * scales[1]


def test_int8_through_cli_with_verify(quantized, tmp_path):
    from click.testing import CliRunner

    import convert
    from convert.cli.main import main

    model, graph, folder, _ = quantized
    convert.save_onnx(graph, tmp_path / "m.onnx")
    r = CliRunner().invoke(main, ["convert", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m.tflite"),
                                  "--quantize", "int8", "--calibration", str(folder / "calib.npz"), "--verify"])
    assert r.exit_code == 0, r.output
    assert "weights stored as int8" in r.output, r.output
    r = CliRunner().invoke(main, ["convert", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "none.tflite"),
                                  "--quantize", "int8"])
    assert r.exit_code == 2 and "--calibration" in r.output, r.output
    assert not (tmp_path / "none.tflite").exists()


def test_ops_without_int8_refused_by_name(tmp_path):
    import convert
    from convert.errors import UnsupportedError
    from convert.exporters.tflite import save, unsupported

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GELU()).eval()
    graph = convert.from_torch(model, (torch.randn(1, *SHAPE),))
    problems = unsupported(graph, quantize="int8")
    assert [p.layer_type for p in problems] == ["GELU"], problems
    x = {graph.inputs[0].name: np.zeros((2, *SHAPE), np.float32)}
    with pytest.raises(UnsupportedError, match="GELU"):
        save(graph, tmp_path / "never.tflite", quantize="int8", calibration=x)
    assert not (tmp_path / "never.tflite").exists()


def _moved_by_middle_weight(model, x, factor: float) -> np.ndarray:
    """How far the float reference's sigmoid map moves when the depthwise (middle) weight
    is scaled by ``factor``; the weight is restored afterwards."""
    with torch.no_grad():
        before = model(torch.from_numpy(x))[1].numpy()
        model.dw.weight.mul_(factor)
        try:
            after = model(torch.from_numpy(x))[1].numpy()
        finally:
            model.dw.weight.div_(factor)
    return float(np.abs(after - before).max())


def test_int8_bound_sees_a_20pct_middle_weight_change(quantized):
    model, _, folder, _ = quantized
    bound = STEPS * _output_scales(folder / "int8.tflite")[1]
    x = np.random.default_rng(7).standard_normal((4, *SHAPE)).astype(np.float32)
    moved = _moved_by_middle_weight(model, x, 1.2)
    print(f"int8: 20% on the depthwise weight moves the sigmoid map {moved / bound:.2f}x the {STEPS}-step bound")
    assert moved > 2 * bound


def test_int8_output_follows_a_1pct_middle_weight_change(quantized, tmp_path):
    """A 1% change to the depthwise weight moves each output by at most 0.5 int8 steps,
    below the 3-step bound of one element, but it moves them all: regressing the int8
    file's change (the model quantized again after the change, same calibration inputs)
    on torch's change over many outputs gives a slope of about 1, resolved far past its
    standard error. A converter that dropped or misplaced the weight gives a slope near 0."""
    model, graph, folder, _ = quantized
    x = np.random.default_rng(7).standard_normal((32, *SHAPE)).astype(np.float32)

    def sigmoid_map(path, g):
        with torch.no_grad():
            ref = model(torch.from_numpy(x))[1].numpy().ravel()
        return ref, _run(path, g, x)[1].ravel()

    ref0, q0 = sigmoid_map(folder / "int8.tflite", graph)
    with torch.no_grad():
        model.dw.weight.mul_(1.01)
    try:
        changed, _, _ = _quantize(model, tmp_path / "changed.tflite")
        ref1, q1 = sigmoid_map(tmp_path / "changed.tflite", changed)
    finally:
        with torch.no_grad():
            model.dw.weight.div_(1.01)
    d_ref, d_q = ref1 - ref0, q1 - q0
    step = _output_scales(folder / "int8.tflite")[1]
    assert np.abs(d_ref).max() < STEPS * step  # invisible element by element
    slope = float(d_ref @ d_q / (d_ref @ d_ref))
    residual = d_q - slope * d_ref
    stderr = float(np.sqrt(residual @ residual / (d_ref.size - 1) / (d_ref @ d_ref)))
    print(f"int8: 1% on the depthwise weight: slope {slope:.3f} +- {stderr:.3f} over {d_ref.size} outputs")
    assert 0.7 < slope < 1.3 and slope > 10 * stderr, (slope, stderr)
