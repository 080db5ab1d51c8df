"""Whole models through the LiteRT writer: a ResNet-like and a MobileNet-like torch model
and a Keras CNN, run in LiteRT's interpreter against their source framework; zero
TRANSPOSE inside; fp16 and dynamic-int8 weights within tolerances that fit them; the CLI's
--verify and --per-layer on a .tflite target."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import REPO
from helpers import assert_close

torch = pytest.importorskip("torch")
pytest.importorskip("ai_edge_litert")
nn = torch.nn

from torch_cases import BasicBlock as Block  # noqa: E402


class ResNetLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 5, 2, 2, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        self.layer1 = Block(8, 8, 1)
        self.layer2 = Block(8, 12, 2)
        self.fc = nn.Linear(12, 7)

    def forward(self, x):
        y = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


class InvertedResidual(nn.Module):
    def __init__(self, c, expand, se: bool):
        super().__init__()
        h = c * expand
        self.expand = nn.Sequential(nn.Conv2d(c, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU6())
        self.dw = nn.Sequential(nn.Conv2d(h, h, 3, 1, 1, groups=h, bias=False), nn.BatchNorm2d(h), nn.Hardswish())
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(h, 4, 1), nn.ReLU(), nn.Conv2d(4, h, 1),
                                nn.Hardsigmoid()) if se else None
        self.project = nn.Sequential(nn.Conv2d(h, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        y = self.dw(self.expand(x))
        if self.se is not None:
            y = y * self.se(y)
        return x + self.project(y)


class MobileNetLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.Hardswish())
        self.blocks = nn.Sequential(InvertedResidual(8, 3, False), InvertedResidual(8, 2, True))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 16), nn.Hardswish(),
                                  nn.Dropout(0.2), nn.Linear(16, 6))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


SHAPE = (2, 3, 33, 29)


def calibrated(cls, seed: int = 0) -> nn.Module:
    """Seeded model with weights that keep activations O(1) to the logits, and BatchNorm
    running statistics from a batch (not 0/1)."""
    torch.manual_seed(seed)
    model = cls()
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)
            if m.bias is not None:
                nn.init.uniform_(m.bias, -0.5, 0.5)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
    model.train()
    with torch.no_grad():
        model(torch.randn(8, *SHAPE[1:]) * 2 + 0.5)
    return model.eval()


@pytest.fixture(scope="module", params=[ResNetLike, MobileNetLike], ids=["resnet_like", "mobilenet_like"])
def written(request, tmp_path_factory):
    """(model, graph, {mode: (path, ctx)}) with fp32, fp16 and dynamic-int8 files, built once."""
    import convert
    from convert.api import prepare
    from convert.exporters.tflite import to_tflite

    model = calibrated(request.param)
    graph, _ = prepare(convert.from_torch(model, (torch.randn(*SHAPE),)))
    folder = tmp_path_factory.mktemp(request.param.__name__)
    files = {}
    for mode, opts in {"fp32": {}, "fp16": {"precision": "fp16"},
                       "dynamic-int8": {"quantize": "dynamic-int8"}}.items():
        data, ctx = to_tflite(graph, io_layout="nhwc", **opts)
        (folder / f"{mode}.tflite").write_bytes(data)
        files[mode] = (folder / f"{mode}.tflite", ctx)
    return model, graph, files


def _run(path, graph, x: np.ndarray) -> np.ndarray:
    from convert.exporters.tflite import runner

    return runner(str(path), graph=graph)({graph.inputs[0].name: x})[graph.outputs[0].name]


def _torch(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def test_fp32_matches_and_has_no_transpose(written):
    model, graph, files = written
    path, ctx = files["fp32"]
    assert ctx.transposes == 0
    rng = np.random.default_rng(1)
    for batch in (2, 5):
        x = rng.standard_normal((batch, *SHAPE[1:])).astype(np.float32)
        assert_close(_run(path, graph, x), _torch(model, x), 1e-4, 1e-4, "fp32")


def test_weights_carry_signal(written):
    """Another input and a 1% change to a middle weight move the output far past the
    tolerance, so the comparison above can fail."""
    model, graph, files = written
    rng = np.random.default_rng(2)
    x, other = (rng.standard_normal(SHAPE).astype(np.float32) for _ in range(2))
    ref = _torch(model, x)
    assert np.abs(_torch(model, other) - ref).max() > 100 * 1e-4
    middle = [m for m in model.modules() if isinstance(m, nn.Conv2d)][3]
    with torch.no_grad():
        middle.weight.mul_(1.01)
    try:
        assert np.abs(_torch(model, x) - ref).max() > 10 * 1e-4
    finally:
        with torch.no_grad():
            middle.weight.div_(1.01)


def test_fp16_weights_halve_the_file_within_fp16_tolerance(written):
    model, graph, files = written
    (p32, c32), (p16, c16) = files["fp32"], files["fp16"]
    assert c16.transposes == 0
    assert c16.weight_bytes < 0.6 * c32.weight_bytes
    x = np.random.default_rng(3).standard_normal(SHAPE).astype(np.float32)
    ref = _torch(model, x)
    out16 = _run(p16, graph, x)
    err16 = np.abs(out16 - ref).max()
    assert err16 > np.abs(_run(p32, graph, x) - ref).max()  # the weights really are fp16
    assert_close(out16, ref, 1e-2, 1e-2, "fp16")


def test_dynamic_int8_quarter_size_bounded_error(written):
    model, graph, files = written
    c32, (p8, c8) = files["fp32"][1], files["dynamic-int8"]
    assert c8.weight_bytes < 0.45 * c32.weight_bytes  # biases and scales stay fp32
    x = np.random.default_rng(4).standard_normal((4, *SHAPE[1:])).astype(np.float32)
    ref = _torch(model, x)
    out8 = _run(p8, graph, x)
    scale = np.abs(ref).max()
    assert np.abs(out8 - ref).max() < 0.1 * scale  # int8 weights and activations: a few percent
    assert (out8.argmax(1) == ref.argmax(1)).mean() >= 0.75


def test_keras_cnn_has_no_transpose(tmp_path):
    keras = pytest.importorskip("keras")
    import convert
    from convert.api import prepare
    from convert.exporters.tflite import to_tflite

    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((13, 11, 3))
    y = L.Conv2D(6, 3, padding="same", use_bias=False)(inp)
    y = L.ReLU()(L.BatchNormalization()(y))
    y = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(y)
    y = L.MaxPooling2D(2, padding="same")(y)
    y = L.Dense(5, activation="softmax")(L.GlobalAveragePooling2D()(y))
    model = keras.Model(inp, y)
    model.get_layer(index=2).set_weights([np.array(w) * 0 + np.random.default_rng(i).uniform(0.5, 1.5, w.shape)
                                          for i, w in enumerate(model.get_layer(index=2).get_weights())])
    graph, _ = prepare(convert.from_keras(model))
    data, ctx = to_tflite(graph)
    assert ctx.transposes == 0  # NHWC interface by default, NHWC inside
    (tmp_path / "k.tflite").write_bytes(data)
    x = np.random.default_rng(5).standard_normal((3, 13, 11, 3)).astype(np.float32)
    assert_close(_run(tmp_path / "k.tflite", graph, x), np.asarray(model(x, training=False)), 1e-4, 1e-5, "keras")


def test_verify_and_per_layer(tmp_path):
    """convert --verify --per-layer and nnconvert verify on a .tflite target (in process:
    the CLI is a thin shell over these calls)."""
    import convert
    from convert.api import convert_file

    src, out = str(REPO / "fixtures" / "tiny_resnet.pt2"), str(tmp_path / "tiny.tflite")
    res = convert_file(src, out, verify=True, verify_options={"per_layer": True, "artifacts": str(tmp_path / "art")})
    assert res.report.ok
    layers = res.report.layers
    assert len(layers) >= 5 and all(r.ok for r in layers), layers
    assert convert.verify(src, out, samples=2).ok


@pytest.mark.parametrize("option", [{"precision": "fp16"}, {"quantize": "dynamic-int8"}], ids=["fp16", "int8"])
def test_convert_verify_reports_size_and_fitting_tolerance(option, tmp_path):
    from convert.api import convert_file

    res = convert_file(str(REPO / "fixtures" / "tiny_resnet.pt2"), str(tmp_path / "t.tflite"), writer_options=option,
                       verify=True)
    assert res.report.ok
    note = next(n for n in res.report.notes if n.startswith("weights stored as"))
    ratio = float(note.split(", ")[1].split("x")[0])
    assert ratio < (0.55 if "precision" in option else 0.3), note
    err = max(o.max_abs for r in res.report.runs for o in r.outputs)
    assert 0 < err < 0.05  # the accuracy change is real (not fp32) and small


# (weight corrupted, layer blamed, layers the compared value covers: relu0 is fused into
# conv0; the flatten feeding the dense layer is stored in channels-last order, so it is
# compared together with fc)
@pytest.mark.parametrize("weight,layer,covers", [("w0", "conv0", ["conv0 (Conv2d)", "relu0 (ReLU)"]),
                                                 ("fcw", "flatten", ["flatten (Flatten)", "fc (Linear)"])])
def test_per_layer_names_the_diverging_layer(weight, layer, covers, tmp_path):
    """A .tflite written from a graph with one corrupted weight: --per-layer compares the
    interpreter's kept tensors (back in IR layout) and blames that layer."""
    from ir_graphs import cnn_graph

    import convert
    from convert.api import prepare
    from convert.exporters.nnir import save
    from convert.exporters.tflite import to_tflite

    save(cnn_graph(), tmp_path / "m.nnir")
    bad = cnn_graph()
    bad.weights[weight] = bad.weights[weight] + 0.5 * (np.arange(bad.weights[weight].size) == 0).reshape(
        bad.weights[weight].shape)
    (tmp_path / "bad.tflite").write_bytes(to_tflite(prepare(bad)[0], io_layout="nhwc")[0])
    rep = convert.verify(str(tmp_path / "m.nnir"), str(tmp_path / "bad.tflite"), per_layer=True,
                         artifacts=tmp_path / "art")
    assert not rep.ok
    f = rep.first_divergence
    assert f is not None and f.layer == layer and f.covers == covers, (f, rep.layers)
    assert all(r.ok for r in rep.layers[:f.index])
