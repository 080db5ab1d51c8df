"""CLI behaviour through click's runner: exit codes, errors, no partial outputs."""
import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from convert.cli.main import main
from convert.ir import save
from ir_graphs import small_graph
from ir_graphs import conv_bn_graph


@pytest.fixture
def nnir(tmp_path):
    path = tmp_path / "m.nnir"
    save(conv_bn_graph(), path)
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_convert_and_verify(nnir, tmp_path):
    out = tmp_path / "m.onnx"
    r = invoke("convert", nnir, "-o", out, "--verify", "--report", tmp_path / "r.json", "--markdown", tmp_path / "r.md")
    assert r.exit_code == 0, r.output
    assert out.exists() and "PASS" in r.output
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["verdict"] == "pass" and len(rep["runs"]) == 2  # two batch sizes: the batch is dynamic
    assert {tuple(run["shapes"]["x"]) for run in rep["runs"]} == {(1, 3, 6, 6), (3, 3, 6, 6)}
    assert "# Verification report: PASS" in (tmp_path / "r.md").read_text()


def test_existing_output_needs_force(nnir, tmp_path):
    out = tmp_path / "m.onnx"
    out.write_text("keep me")
    r = invoke("convert", nnir, "-o", out)
    assert r.exit_code == 2 and "--force" in r.output
    assert out.read_text() == "keep me"
    assert invoke("convert", nnir, "-o", out, "--force").exit_code == 0
    assert out.read_bytes()[:2] != b"ke"


def test_missing_input_is_exit_3_without_traceback(tmp_path):
    r = invoke("convert", tmp_path / "nope.nnir", "-o", tmp_path / "x.onnx")
    assert r.exit_code == 3
    assert "Traceback" not in r.output and "no such file" in r.output
    assert not (tmp_path / "x.onnx").exists()


def test_unknown_extension_is_usage_error(tmp_path):
    (tmp_path / "m.weird").write_text("x")
    r = invoke("convert", tmp_path / "m.weird", "-o", tmp_path / "x.onnx")
    assert r.exit_code == 2 and "--from" in r.output


def test_bad_opset_is_usage_error(nnir, tmp_path):
    r = invoke("convert", nnir, "-o", tmp_path / "x.onnx", "--opset", "7")
    assert r.exit_code == 2 and "opset" in r.output
    assert not list(tmp_path.glob("x.onnx*")) and not list(tmp_path.glob(".nnconvert-*"))


def test_invalid_graph_is_exit_3(tmp_path):
    path = tmp_path / "bad.nnir"
    save(conv_bn_graph(), path)
    doc = json.loads((path / "graph.json").read_text())
    doc["nodes"][0]["op"] = "NoSuchOp"
    (path / "graph.json").write_text(json.dumps(doc))
    r = invoke("convert", path, "-o", tmp_path / "x.onnx")
    assert r.exit_code == 3 and "NoSuchOp" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "x.onnx").exists()


def test_debug_shows_traceback(tmp_path):
    r = CliRunner().invoke(main, ["--debug", "convert", str(tmp_path / "nope.nnir"), "-o", str(tmp_path / "x.onnx")])
    assert r.exit_code == 3


def test_verify_command_detects_a_changed_weight(tmp_path):
    g = conv_bn_graph()
    save(g, tmp_path / "a.nnir")
    bad = g.copy()
    w = bad.weights["w"].copy()
    w[0, 0, 0, 0] += 1.0
    bad.weights["w"] = w
    save(bad, tmp_path / "b.nnir")
    assert invoke("verify", tmp_path / "a.nnir", tmp_path / "a.nnir").exit_code == 0
    r = invoke("verify", tmp_path / "a.nnir", tmp_path / "b.nnir", "--report", tmp_path / "r.json")
    assert r.exit_code == 1 and "FAIL" in r.output
    assert json.loads((tmp_path / "r.json").read_text())["verdict"] == "fail"


def test_verify_with_user_inputs_and_reference(tmp_path):
    g = conv_bn_graph()
    save(g, tmp_path / "a.nnir")
    x = np.random.default_rng(5).standard_normal((2, 3, 6, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = invoke("verify", tmp_path / "a.nnir", tmp_path / "a.nnir", "--input", f"x={tmp_path / 'x.npy'}")
    assert r.exit_code == 0 and "2x4x6x4" in r.output


def test_inspect_table(tmp_path):
    save(small_graph(), tmp_path / "m.nnir")
    r = invoke("inspect", tmp_path / "m.nnir")
    assert r.exit_code == 0, r.output
    assert "features.0" in r.output and "batchx4x8x8" in r.output and "total: 3 nodes, 126 parameters" in r.output


def test_formats_and_ops():
    r = invoke("formats")
    assert r.exit_code == 0 and "onnx" in r.output
    r = invoke("ops", "--markdown")
    assert r.exit_code == 0 and "| Conv |" in r.output


def test_python_cli_entry_matches(tmp_path):
    out = subprocess.run([sys.executable, "cli.py", "--help"], capture_output=True, text=True,
                         cwd=str(__import__("conftest").REPO))
    assert out.returncode == 0 and "convert" in out.stdout


def test_no_framework_imported_by_package_or_help():
    code = ("import sys, convert, convert.api, convert.cli.main, convert.support\n"
            "import importlib\n"
            "for m in ('convert.importers.torch', 'convert.importers.keras', 'convert.importers.caffe'):\n"
            "    try: importlib.import_module(m)\n"
            "    except ImportError: pass\n"
            "from click.testing import CliRunner\n"
            "assert CliRunner().invoke(convert.cli.main.main, ['--help']).exit_code == 0\n"
            "bad = [m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules]\n"
            "assert not bad, bad\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_verbose_lists_what_each_pass_changed(nnir, tmp_path):
    r = invoke("-v", "convert", nnir, "-o", tmp_path / "m.onnx")
    assert r.exit_code == 0, r.output
    assert "pass fold-batchnorm: 1 change(s)" in r.output
    assert "pass fold-batchnorm: folded bn into conv" in r.output
    assert "pass remove-identity: removed Dropout drop" in r.output
