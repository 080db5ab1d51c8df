"""Flags that do what they say: static --input-shape numbers, hints that parse, --to vs the
output name, -v/--debug after the subcommand, --trust-pickle finding the user's module,
a prototxt finding its caffemodel, a missing forward() argument as a usage error."""
import re
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from convert.api import convert_file
from convert.cli.main import main
from convert.ir import save
from ir_graphs import conv_bn_graph

torch = pytest.importorskip("torch")

TWO_INPUTS = """import torch
class Two(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)
    def forward(self, a, b):
        return self.fc(a) + b
def build():
    torch.manual_seed(0)
    return Two()
def relu():
    return torch.nn.ReLU()
def deep():
    return torch.nn.Sequential(*[torch.nn.Linear(3, 3) for _ in range(6)])
"""


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("flags")
    (d / "two.py").write_text(TWO_INPUTS)
    save(conv_bn_graph(), d / "m.nnir")
    return d


def onnx_dims(path):
    import onnx

    m = onnx.load(str(path))
    return {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in m.graph.input}


def test_numbers_in_input_shape_are_static_names_dynamic(work, tmp_path):
    static, dynamic = tmp_path / "s.onnx", tmp_path / "d.onnx"
    r = invoke("convert", f"{work}/two.py:build", "--input-shape", "a:4,3", "--input-shape", "b:4,2", "-o", static,
               "--verify")
    assert r.exit_code == 0, r.output
    assert list(onnx_dims(static).values()) == [[4, 3], [4, 2]]
    r = invoke("convert", f"{work}/two.py:build", "--input-shape", "a:batch,3", "--input-shape", "b:batch,2",
               "-o", dynamic, "--verify")
    assert r.exit_code == 0, r.output
    assert [d[0] for d in onnx_dims(dynamic).values()] == ["batch", "batch"]


def test_missing_shape_hint_is_valid_option_syntax(work, tmp_path):
    r = invoke("convert", f"{work}/two.py:relu", "-o", tmp_path / "r.onnx")
    assert r.exit_code == 3
    hint = re.search(r"--input-shape (\S+)", r.output)
    assert hint and hint[1] == "input:batch,3,224,224", r.output
    r = invoke("convert", f"{work}/two.py:relu", "--input-shape", hint[1], "-o", tmp_path / "r.onnx", "--verify")
    assert r.exit_code == 0, r.output


def test_missing_forward_argument_is_a_usage_error(work, tmp_path):
    r = invoke("convert", f"{work}/two.py:build", "--input-shape", "a:1,3", "-o", tmp_path / "x.onnx")
    assert r.exit_code == 2, r.output
    assert "['b']" in r.output and "--input-shape b:" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("to, name", [("torch", "m.onnx"), ("keras", "x.onnx"), ("onnx", "m.keras"),
                                      ("keras", "x.bin"), ("caffe", "x.bin")])
def test_to_contradicting_the_extension_is_a_usage_error(work, tmp_path, to, name):
    r = invoke("convert", work / "m.nnir", "--to", to, "-o", tmp_path / name)
    assert r.exit_code == 2, r.output
    assert to in r.output and Path(name).suffix in r.output and ".nnconvert-" not in r.output
    assert list(tmp_path.iterdir()) == []


def test_py_output_is_torch_source(work, tmp_path):
    r = invoke("convert", work / "m.nnir", "-o", tmp_path / "m.py")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.py", "m.safetensors"]


def test_verbose_and_debug_after_the_subcommand(work, tmp_path):
    r = invoke("convert", work / "m.nnir", "-o", tmp_path / "m.onnx", "-v")
    assert r.exit_code == 0, r.output
    assert "pass fold-batchnorm: folded bn into conv" in r.output
    r = CliRunner().invoke(main, ["convert", str(tmp_path / "nope.nnir"), "-o", str(tmp_path / "x.onnx"),
                                  "--debug"])
    assert r.exit_code == 3 and "Traceback" in r.output


MYNET = """import torch
class MyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)
    def forward(self, x):
        return torch.tanh(self.fc(x))
"""


def test_trust_pickle_finds_the_class_beside_the_file(tmp_path, monkeypatch):
    (tmp_path / "mynet.py").write_text(MYNET)
    sys.path.insert(0, str(tmp_path))
    try:
        import mynet

        torch.manual_seed(0)
        torch.save(mynet.MyNet(), tmp_path / "model.pt")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("mynet", None)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    r = invoke("convert", tmp_path / "model.pt", "--trust-pickle", "--input-shape", "x:batch,3",
               "-o", elsewhere / "m.onnx", "--verify")
    assert r.exit_code == 0, r.output
    assert str(tmp_path) not in sys.path and str(elsewhere) not in sys.path  # the import path is restored
    sys.modules.pop("mynet", None)


def test_prototxt_picks_up_the_caffemodel_beside_it(work, tmp_path):
    convert_file(str(work / "m.nnir"), str(tmp_path / "deploy.prototxt"))
    r = invoke("convert", tmp_path / "deploy.prototxt", "-o", tmp_path / "a.onnx")
    assert r.exit_code == 0, r.output
    assert "deploy.caffemodel" in r.output
    r = invoke("convert", tmp_path / "deploy.prototxt", "--weights", tmp_path / "deploy.caffemodel",
               "-o", tmp_path / "b.onnx")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copyfile(tmp_path / "deploy.prototxt", alone / "deploy.prototxt")
    r = invoke("convert", alone / "deploy.prototxt", "-o", alone / "a.onnx")
    assert r.exit_code == 3 and "--weights" in r.output and "--allow-missing-weights" in r.output


def test_results_print_short(work, tmp_path):
    res = convert_file(str(work / "m.nnir"), str(tmp_path / "m.onnx"), verify=True)
    for obj in (res, res.graph, res.report):
        text = repr(obj)
        assert len(text) < 300 and "array(" not in text, text
    assert "PASS" in repr(res) and "onnx" in repr(res)


def test_api_errors_name_api_keywords(work, tmp_path):
    from convert.errors import OutputExistsError

    (tmp_path / "m.onnx").write_text("keep")
    with pytest.raises(OutputExistsError, match="force=True") as e:
        convert_file(str(work / "m.nnir"), str(tmp_path / "m.onnx"))
    assert "--force" not in str(e.value)
    r = invoke("convert", work / "m.nnir", "-o", tmp_path / "m.onnx")
    assert r.exit_code == 2 and "--force" in r.output and "force=True" not in r.output


def test_long_error_is_cut_at_a_word_boundary_full_with_debug(work, tmp_path):
    sd = {f"{i}.{k}": torch.zeros(4, 4) if k == "weight" else torch.zeros(4) for i in range(6) for k in ("weight", "bias")}
    torch.save(sd, tmp_path / "w.pt")
    args = ["convert", f"{work}/two.py:deep", "--weights", tmp_path / "w.pt", "--input-shape", "input:1,3",
            "-o", tmp_path / "x.onnx"]
    r = invoke(*args)
    assert r.exit_code == 3, r.output
    line = [ln for ln in r.output.splitlines() if ln.startswith("error:")][0]
    assert line.endswith(" ... (full text with --debug)") and len(line) < 600, line
    shown = line.split(" does not fit the model: ")[1].rsplit(" ...", 1)[0]
    r = invoke(*args, "--debug")
    full = " ".join(r.output.split())
    assert r.exit_code == 3 and (shown + " ") in full  # the cut fell between two words
    assert "size mismatch for 5.bias" in full and "size mismatch for 5.bias" not in line


def test_other_keras_backends_are_refused_in_one_line(work, tmp_path):
    import os
    import subprocess

    from conftest import REPO

    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "cli.py", "convert", str(work / "m.nnir"), "-o", str(tmp_path / "m.keras")],
                       capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert r.returncode == 2, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert errors == [errors[0]] and "'torch' is not supported" in errors[0] and "KERAS_BACKEND=tensorflow" in errors[0]
    assert "Traceback" not in r.stderr and not (tmp_path / "m.keras").exists()
