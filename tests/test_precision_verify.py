"""Verifying half-precision files: ``--per-layer`` compares each layer at the precision's
tolerance (relative to that layer's scale, as the outputs are), so a correct fp16/bf16 file
flags no layer and a corrupted one names the corrupted layer; and the precision a target
computes in is read from the file (its metadata, or its weights' dtype) rather than given.

The source is a float32 CNN (BatchNorm calibrated on a batch) exported to .pt2; the
reference numbers are torch's own, run by ``verify``."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
nn, F = torch.nn, torch.nn.functional
numpy_helper = onnx.numpy_helper

from convert.api import convert_file, verify  # noqa: E402


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.c2, self.b2 = nn.Conv2d(8, 12, 3, stride=2, padding=1), nn.BatchNorm2d(12)
        self.c3 = nn.Conv2d(12, 10, 3, padding=1)
        self.fc = nn.Linear(10, 7)

    def forward(self, x):
        x = F.relu(self.b1(self.c1(x)))
        x = F.relu(self.b2(self.c2(x)))
        x = torch.tanh(self.c3(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The float32 .pt2 source and its fp16/bf16 conversions (ONNX and .pt2), written once."""
    root = tmp_path_factory.mktemp("precverify")
    torch.manual_seed(0)
    model = Cnn()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (0.2 if name.endswith("bias") else 0.5))
        model.train()
        model(torch.randn(16, 3, 9, 11))
    model.eval()
    ep = torch.export.export(model, (torch.randn(2, 3, 9, 11),),
                             dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    src = root / "cnn.pt2"
    torch.export.save(ep, str(src))
    out = {"src": src, "model": model}
    for precision in ("fp16", "bf16"):
        for suffix in (".onnx", ".pt2"):
            path = root / f"cnn_{precision}{suffix}"
            convert_file(str(src), str(path), precision=precision)
            out[precision, suffix] = path
    for precision, fmt in (("fp32", ".onnx"), ("fp16", ".py")):
        path = root / f"cnn_{precision}{fmt}"
        convert_file(str(src), str(path), precision=precision, to_fmt="torch-source" if fmt == ".py" else None)
        out[precision, fmt] = path
    return out


def _corrupt(path, dst, layer: str, factor: float):
    """``path`` with the weight of the Conv node named ``layer`` scaled by ``factor``."""
    m = onnx.load(str(path))
    (node,) = [n for n in m.graph.node if n.op_type == "Conv" and n.name == layer]
    (init,) = [t for t in m.graph.initializer if t.name == node.input[1]]
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * np.float16(factor), init.name))
    onnx.save(m, str(dst))
    return dst


@pytest.mark.parametrize("precision,suffix", [("fp16", ".onnx"), ("bf16", ".onnx"), ("fp16", ".pt2"),
                                              ("bf16", ".pt2")])
def test_correct_half_file_flags_no_layer(files, precision, suffix):
    rep = verify(str(files["src"]), str(files[precision, suffix]), precision=precision, per_layer=True)
    assert rep.ok and rep.precision == precision
    assert len(rep.layers) >= 6, [lay.value for lay in rep.layers]
    assert rep.first_divergence is None, rep.first_divergence
    # half-precision rounding is really there: at float32's tolerance the first layer would fail
    first = rep.layers[0]
    assert first.max_abs > 1e-4 * (1 + first.allowed / (2 * {"fp16": 1e-2, "bf16": 5e-2}[precision])), first


def test_corrupted_middle_weight_is_the_first_flagged_layer(files, tmp_path):
    """c2's weight scaled by 1.2 in the fp16 file: c1 and its ReLU pass at fp16 tolerance, c2
    is named, and by far (the change is not within half-precision rounding)."""
    bad = _corrupt(files["fp16", ".onnx"], tmp_path / "bad.onnx", "c2", 1.2)
    rep = verify(str(files["src"]), str(bad), precision="fp16", per_layer=True, artifacts=str(tmp_path))
    assert not rep.ok
    first = rep.first_divergence
    assert first is not None and first.layer == "c2", first
    assert first.max_abs > 5 * first.allowed, first
    before = rep.layers[:first.index]
    assert before and all(lay.ok for lay in before) and before[0].layer == "c1"
    assert rep.repro is not None


def _foreign(path, dst):
    """``path`` as another tool would write it: no nnconvert metadata or producer."""
    m = onnx.load(str(path))
    del m.metadata_props[:]
    m.producer_name = "other"
    onnx.save(m, str(dst))
    return dst


@pytest.mark.parametrize("key,precision,origin", [
    (("fp16", ".onnx"), "fp16", "the file's metadata nnconvert.precision"),
    (("bf16", ".onnx"), "bf16", "the file's metadata nnconvert.precision"),
    (("fp16", ".pt2"), "fp16", "its weights: "),
    (("bf16", ".pt2"), "bf16", "its weights: "),
    (("fp16", ".py"), "fp16", "the weights file's metadata nnconvert.precision"),
    (("fp32", ".onnx"), "fp32", "written by nnconvert without nnconvert.precision metadata"),
])
def test_precision_read_from_the_file(files, key, precision, origin):
    """No --precision: the file says what it computes in, and the report says how it knew."""
    rep = verify(str(files["src"]), str(files[key]))
    assert rep.ok, rep.table()
    assert rep.precision == precision and rep.precision_from.startswith(origin), rep.precision_from
    assert json.loads(rep.dumps())["precision_from"] == rep.precision_from


def test_precision_of_a_foreign_file_from_its_initializers(files, tmp_path):
    """An fp16 ONNX file without nnconvert's metadata: fp16 weights mean fp16 tolerances;
    the same file fails at float32 tolerances (its rounding is real)."""
    dst = _foreign(files["fp16", ".onnx"], tmp_path / "foreign.onnx")
    rep = verify(str(files["src"]), str(dst))
    assert rep.ok and rep.precision == "fp16"
    assert rep.precision_from.startswith("its weights: ") and "float16" in rep.precision_from
    assert not verify(str(files["src"]), str(dst), precision="fp32", precision_from="a test").ok


@pytest.mark.parametrize("key,given", [(("fp16", ".onnx"), "fp32"), (("fp32", ".onnx"), "fp16"),
                                       (("bf16", ".pt2"), "fp16")])
def test_contradicting_precision_is_a_usage_error(files, key, given):
    from convert.errors import UsageError

    with pytest.raises(UsageError, match=f"precision='{given}' contradicts {files[key].name}, which computes in "
                                         f"{key[0]}"):
        verify(str(files["src"]), str(files[key]), precision=given)


def test_cli_states_the_precision_and_refuses_a_contradiction(files):
    from click.testing import CliRunner

    from convert.cli.main import main

    def cli(*args):
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)

    r = cli("verify", files["src"], files["bf16", ".onnx"])
    assert r.exit_code == 0, r.output
    assert "precision: the target computes in bf16 (the file's metadata nnconvert.precision)" in r.output
    r = cli("verify", files["src"], files["bf16", ".onnx"], "--precision", "fp16")
    assert r.exit_code == 2, r.output
    assert r.output.strip().splitlines() == [
        "error: --precision fp16 contradicts cnn_bf16.onnx, which computes in bf16 (the file's metadata "
        "nnconvert.precision); drop --precision fp16 to verify at bf16"], r.output
