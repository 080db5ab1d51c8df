"""Verification machinery on IR/ONNX pairs: --per-layer names the corrupted layer, a
batch size baked into a Reshape fails at the second batch size, reports validate
against schemas/verify-report.schema.json, the CLI exit codes and files."""
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import numpy_helper

import convert
from convert.api import export, verify
from convert.cli.main import main
from convert.ir import GraphBuilder, save
from convert.ir.graph import Source
from convert.verification.repro import repro_stem
from ir_graphs import cnn_graph
from verify_checks import corrupt, validate_report

@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("pair")
    save(cnn_graph(), d / "m.nnir")
    export(cnn_graph(), d / "m.onnx")
    return d


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


# (id, weight corrupted in the optimised ONNX, layer to blame, layers the compared value covers)
CORRUPTIONS = [
    ("first_conv", "w0", "conv0", ["conv0 (Conv2d)"]),
    ("conv_with_folded_bn", "w1_bnfold", "conv1", ["conv1 (Conv2d)", "bn1 (BatchNorm2d)"]),
    ("last_linear", "fcw", "fc", ["fc (Linear)"]),
]


@pytest.mark.parametrize("weight,layer,covers", [c[1:] for c in CORRUPTIONS], ids=[c[0] for c in CORRUPTIONS])
def test_per_layer_names_the_corrupted_layer(pair, tmp_path, weight, layer, covers):
    corrupt(pair / "m.onnx", tmp_path / "bad.onnx", weight)
    rep = verify(str(pair / "m.nnir"), str(tmp_path / "bad.onnx"), per_layer=True, artifacts=tmp_path / "art")
    assert not rep.ok
    f = rep.first_divergence
    assert f is not None and f.layer == layer and f.covers == covers
    assert all(layer.ok for layer in rep.layers[:f.index])  # everything before it matches
    # The repro: the target's nodes for that layer, fed the source's inputs, still diverge.
    m = onnx.load(rep.repro["onnx"])
    arrays = dict(np.load(rep.repro["npz"]))
    import onnxruntime as ort

    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {i.name: arrays[i.name] for i in sess.get_inputs()}
    got = sess.run([f.value], feed)[0]
    assert not np.allclose(got, arrays[f.value], rtol=1e-4, atol=1e-4)
    assert len(m.graph.node) <= 2  # the layer alone (a Conv, or a Gemm and its flatten)
    validate_report(rep.to_json())


def test_per_layer_on_a_good_pair_passes_and_plots(pair, tmp_path):
    rep = verify(str(pair / "m.nnir"), str(pair / "m.onnx"), per_layer=True, artifacts=tmp_path)
    assert rep.ok and rep.first_divergence is None and not rep.repro
    # BN folded into conv1: its own output exists only in the source; conv1's value is not compared.
    assert [layer.value for layer in rep.layers] == ["conv0", "relu0", "bn1", "relu1", "flatten", "fc"]
    assert all(layer.ok for layer in rep.layers)
    png = Path(rep.plot)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_missing_matplotlib_is_a_note_not_a_failure(pair, tmp_path, monkeypatch):
    import convert.verification.plot as plot

    monkeypatch.setattr(plot, "matplotlib_available", lambda: False)
    rep = verify(str(pair / "m.nnir"), str(pair / "m.onnx"), per_layer=True, artifacts=tmp_path)
    assert rep.ok and rep.plot is None
    assert any("matplotlib is not installed" in n for n in rep.notes)


def _flatten_graph(head: str):
    """x (batch, 4, 2, 2) -> Relu -> Flatten [-> Gemm]; the Flatten is later baked to batch 1."""
    b = GraphBuilder("flat", "test")
    x = b.input("x", shape=("batch", 4, 2, 2))
    b.source = Source("test", "ReLU", "relu")
    y = b.op("Relu", x)
    b.source = Source("test", "Flatten", "flatten")
    y = b.op("Flatten", y, axis=1)
    if head == "gemm":
        b.source = Source("test", "Linear", "fc")
        y = b.op("Gemm", y, b.weight("fcw", np.random.default_rng(1).standard_normal((3, 16))), transB=1)
    b.output(y)
    return b.finish()


def _bake_batch(src: Path, dst: Path, batch: int) -> None:
    """Replace the Flatten by Reshape(shape=[batch, -1]): what tracing with a fixed batch leaves behind."""
    m = onnx.load(str(src))
    for i, n in enumerate(m.graph.node):
        if n.op_type == "Flatten":
            m.graph.initializer.append(numpy_helper.from_array(np.array([batch, -1], np.int64), "baked_shape"))
            m.graph.node[i].CopyFrom(onnx.helper.make_node("Reshape", [n.input[0], "baked_shape"], list(n.output),
                                                           name=n.name))
    onnx.save(m, str(dst))


@pytest.mark.parametrize("head,failure", [("output", "shape"), ("gemm", "target error")],
                         ids=["reshape_is_output", "reshape_feeds_gemm"])
def test_batch_baked_into_reshape_fails_at_second_batch_size(tmp_path, head, failure):
    g = _flatten_graph(head)
    save(g, tmp_path / "m.nnir")
    export(g, tmp_path / "m.onnx", optimize=False)
    _bake_batch(tmp_path / "m.onnx", tmp_path / "baked.onnx", batch=1)
    rep = verify(str(tmp_path / "m.nnir"), str(tmp_path / "baked.onnx"))
    assert [r.shapes["x"][0] for r in rep.runs] == [1, 3]
    assert rep.runs[0].ok and not rep.runs[1].ok and not rep.ok
    text = (rep.runs[1].outputs[0].note if rep.runs[1].outputs else "") + (rep.runs[1].error or "")
    assert ("shape" in text) if failure == "shape" else bool(rep.runs[1].error)
    validate_report(rep.to_json())  # inf metrics and the error are valid JSON
    r = invoke("verify", tmp_path / "m.nnir", tmp_path / "baked.onnx")
    assert r.exit_code == 1 and "FAIL" in r.output


def test_cli_per_layer_writes_reports_repro_and_plot(pair, tmp_path):
    corrupt(pair / "m.onnx", tmp_path / "bad.onnx", "w0")
    r = invoke("verify", pair / "m.nnir", tmp_path / "bad.onnx", "--per-layer", "--report", tmp_path / "r.json",
               "--markdown", tmp_path / "r.md")
    assert r.exit_code == 1, r.output
    assert "first diverging layer: conv0 (Conv2d)" in r.output
    assert "tolerance: float32: rtol 0.0001, atol 0.0001 (default float32 cpu)" in r.output
    doc = json.loads((tmp_path / "r.json").read_text())
    validate_report(doc)
    assert doc["verdict"] == "fail" and doc["first_divergence"]["layer"] == "conv0"
    assert doc["providers"] == ["CPUExecutionProvider"]
    md = (tmp_path / "r.md").read_text()
    assert "![max abs error by depth](r_files/error_by_depth.png)" in md
    assert (tmp_path / "r_files" / "error_by_depth.png").exists()
    stem = repro_stem("conv0")
    assert (tmp_path / "r_files" / f"{stem}.onnx").exists() and (tmp_path / "r_files" / f"{stem}.npz").exists()
    assert "**First diverging layer:** `conv0` (Conv2d" in md


def test_convert_verify_per_layer_and_pass_report_validates(pair, tmp_path):
    r = invoke("convert", pair / "m.nnir", "-o", tmp_path / "out.onnx", "--verify", "--per-layer", "--samples", "2",
               "--report", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "r.json").read_text())
    validate_report(doc)
    assert doc["verdict"] == "pass" and len(doc["runs"]) == 4 and doc["first_divergence"] is None
    assert len({run["seed"] for run in doc["runs"]}) == 4
    assert {"nnconvert", "onnx", "onnxruntime"} <= set(doc["environment"])


def test_user_tolerance_and_exit_codes(pair, tmp_path):
    corrupt(pair / "m.onnx", tmp_path / "bad.onnx", "fcw", delta=1e-3, element=True)
    assert invoke("verify", pair / "m.nnir", tmp_path / "bad.onnx").exit_code == 1
    r = invoke("verify", pair / "m.nnir", tmp_path / "bad.onnx", "--atol", "0.05", "--rtol", "0")
    assert r.exit_code == 0 and "rtol 0, atol 0.05 (given)" in r.output
    assert invoke("verify", pair / "m.nnir", tmp_path / "nope.onnx").exit_code == 3
    assert invoke("verify", pair / "m.nnir", pair / "m.onnx", "--device", "tpu").exit_code == 2


def test_cuda_is_strict_when_unavailable(pair):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA is available here; bench/gpu_check.py covers it")
    r = invoke("verify", pair / "m.nnir", pair / "m.onnx", "--device", "cuda")
    assert r.exit_code == 3 and "CUDAExecutionProvider is not available" in r.output


def test_convert_verify_is_callable_after_the_package_is_imported(pair):
    import convert.verification.core  # noqa: F401  (the package must not shadow the function)

    assert convert.verify(str(pair / "m.nnir"), str(pair / "m.onnx")).ok
