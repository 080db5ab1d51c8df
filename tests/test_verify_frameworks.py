"""Verification against real source frameworks: a copy of the converted ONNX model with
one weight of one layer changed must fail, and --per-layer must name exactly that layer
(torch, Keras, Caffe sources); good conversions pass for each format pair."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from convert.api import convert_file, verify
from convert.cli.main import main
from verify_checks import corrupt, validate_report

CAFFE = Path(__file__).resolve().parent.parent.parent / "shared" / "caffe" / "nets" / "tiny_resnet"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def torch_model(tmp_path_factory):
    """conv1 + bn (folded on export) -> relu -> conv2 -> relu -> flatten -> fc, dynamic batch, .pt2."""
    import torch

    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(4)
            self.conv2 = torch.nn.Conv2d(4, 4, 3, padding=1)
            self.fc = torch.nn.Linear(4 * 8 * 8, 5)

        def forward(self, x):
            y = torch.relu(self.bn(self.conv1(x)))
            return self.fc(torch.relu(self.conv2(y)).flatten(1))

    net = Net().eval()
    with torch.no_grad():  # non-trivial running statistics, so the fold matters
        net.bn.running_mean.uniform_(-0.5, 0.5)
        net.bn.running_var.uniform_(0.5, 1.5)
    d = tmp_path_factory.mktemp("torch")
    ep = torch.export.export(net, (torch.randn(2, 3, 8, 8),), dynamic_shapes=({0: torch.export.Dim.AUTO},))
    torch.export.save(ep, str(d / "net.pt2"))
    convert_file(str(d / "net.pt2"), str(d / "net.onnx"))
    return d


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3), name="img")
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(inp)
    y = keras.layers.Conv2D(4, 3, padding="same", name="conv_b")(y)
    y = keras.layers.Flatten(name="flat")(y)
    y = keras.layers.Dense(5, name="dense")(y)
    d = tmp_path_factory.mktemp("keras")
    keras.Model(inp, y).save(str(d / "net.keras"))
    convert_file(str(d / "net.keras"), str(d / "net.onnx"))
    return d


@pytest.fixture(scope="module")
def caffe_model(tmp_path_factory):
    if not CAFFE.exists():
        pytest.skip("shared Caffe reference nets not present")
    d = tmp_path_factory.mktemp("caffe")
    convert_file(str(CAFFE / "deploy.prototxt"), str(d / "net.onnx"),
                 reader_options={"weights": str(CAFFE / "weights.caffemodel")})
    return d


# (id, fixture, source file, weight corrupted in the ONNX copy, layer to blame, layer type)
CASES = [
    ("torch_conv2", "torch_model", "net.pt2", "conv2.weight", "conv2", "Conv2d"),
    ("torch_conv1_bn_folded", "torch_model", "net.pt2", "conv1.weight_bnfold", "conv1", "Conv2d"),
    ("torch_fc", "torch_model", "net.pt2", "fc.weight", "fc", "Linear"),
    ("keras_conv_b", "keras_model", "net.keras", "conv_b/kernel", "conv_b", "Conv2D"),
    ("keras_dense", "keras_model", "net.keras", "dense/kernel", "dense", "Dense"),
    ("caffe_res3a_branch2a", "caffe_model", None, "res3a_branch2a/W_bnfold", "res3a_branch2a", "Convolution"),
    ("caffe_fc10", "caffe_model", None, "fc10/W", "fc10", "InnerProduct"),
]


def _verify(folder: Path, source: str | None, target: Path, **kw):
    if source is None:  # Caffe: no runtime here, compare with the blobs Caffe recorded
        return verify(str(CAFFE / "deploy.prototxt"), str(target), reader_options={"weights": str(CAFFE / "weights.caffemodel")},
                      reference=str(CAFFE / "blobs.npz"), **kw)
    return verify(str(folder / source), str(target), **kw)


@pytest.mark.parametrize("fixture,source,weight,layer,layer_type", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_corrupted_weight_is_caught_and_its_layer_named(request, tmp_path, fixture, source, weight, layer, layer_type):
    folder = request.getfixturevalue(fixture)
    assert _verify(folder, source, folder / "net.onnx").ok  # the real conversion passes
    corrupt(folder / "net.onnx", tmp_path / "bad.onnx", weight, delta=0.3)
    rep = _verify(folder, source, tmp_path / "bad.onnx", per_layer=True, artifacts=tmp_path / "art")
    assert not rep.ok
    f = rep.first_divergence
    assert f is not None, rep.table()
    assert (f.layer, f.layer_type) == (layer, layer_type), rep.table()
    assert all(x.ok for x in rep.layers[:f.index])
    assert Path(rep.repro["onnx"]).exists() and Path(rep.plot).exists()
    assert any("reproduces the divergence" in n for n in rep.notes), rep.notes
    validate_report(rep.to_json())


def test_caffe_in_place_chain_is_reported_as_a_group(caffe_model, tmp_path):
    corrupt(caffe_model / "net.onnx", tmp_path / "bad.onnx", "res3a_branch2a/W_bnfold")
    r = invoke("verify", CAFFE / "deploy.prototxt", tmp_path / "bad.onnx", "--weights", CAFFE / "weights.caffemodel",
               "--reference", CAFFE / "blobs.npz", "--per-layer", "--report", tmp_path / "r.json")
    assert r.exit_code == 1, r.output
    doc = json.loads((tmp_path / "r.json").read_text())
    validate_report(doc)
    f = doc["first_divergence"]
    assert f["value"] == "res3a_branch2a"  # the blob: Convolution, BatchNorm, Scale and ReLU write it in place
    assert f["covers"] == ["res3a_branch2a (Convolution)", "bn3a_branch2a (BatchNorm)", "scale3a_branch2a (Scale)",
                           "res3a_branch2a_relu (ReLU)"]
    assert "first diverging layer: res3a_branch2a (Convolution)" in r.output


@pytest.mark.parametrize("fixture,source", [("torch_model", "net.pt2"), ("keras_model", "net.keras")],
                         ids=["torch_vs_onnx", "keras_vs_onnx"])
def test_good_pair_passes_per_layer(request, fixture, source):
    folder = request.getfixturevalue(fixture)
    rep = verify(str(folder / source), str(folder / "net.onnx"), per_layer=True, samples=2)
    assert rep.ok and len(rep.runs) == 4 and rep.first_divergence is None
    assert len(rep.layers) >= 4 and all(x.ok for x in rep.layers)
    framework = "torch" if source.endswith("pt2") else "keras"
    assert rep.environment[framework] not in ("", "unknown")


@pytest.mark.slow
@pytest.mark.parametrize("fixture,source,target", [("torch_model", "net.pt2", "net.keras"),
                                                    ("keras_model", "net.keras", "net.pt2")],
                         ids=["torch_to_keras", "keras_to_torch"])
def test_cross_framework_pairs(request, tmp_path, fixture, source, target):
    folder = request.getfixturevalue(fixture)
    res = convert_file(str(folder / source), str(tmp_path / target), verify=True)
    assert res.report.ok
    assert verify(str(folder / source), str(tmp_path / target)).ok
