"""Plugins and the pre-flight check. Everything that registers handlers runs in a
subprocess, so the registries of this test process stay as shipped."""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from robust_models import env_without_gpu

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from convert.cli.main import main; main()"]

# The README's worked example, verbatim (run from a copy of the repository's examples/).
README_COMMANDS = """
python examples/plugins/example_keras.py gated_cnn.keras
nnconvert --plugin examples/plugins/my_layers.py convert gated_cnn.keras -o gated_cnn.onnx --verify
nnconvert --plugin examples/plugins/my_layers.py convert examples/plugins/example_torch.py:build -o scaled_tanh.onnx --verify
"""


def _run(line: str, cwd: Path) -> subprocess.CompletedProcess:
    argv = shlex.split(line)
    argv = CLI + argv[1:] if argv[0] == "nnconvert" else [sys.executable] + argv[1:]
    env = env_without_gpu() | {"PYTHONPATH": str(REPO)}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_readme_plugin_example(tmp_path):
    shutil.copytree(REPO / "examples" / "plugins", tmp_path / "examples" / "plugins")
    for line in filter(None, README_COMMANDS.strip().splitlines()):
        r = _run(line, tmp_path)
        assert r.returncode == 0, f"{line}\n{r.stdout}\n{r.stderr[-3000:]}"
        if "--verify" in line:
            assert "verification PASS" in r.stdout, r.stdout
    import onnx

    m = onnx.load(str(tmp_path / "scaled_tanh.onnx"))
    assert [n.domain for n in m.graph.node if n.op_type == "ScaledTanh"] == ["com.example"]
    assert [(f.domain, f.name) for f in m.functions] == [("com.example", "ScaledTanh")]


@pytest.mark.slow
def test_example_layers_are_refused_without_the_plugin(tmp_path):
    shutil.copytree(REPO / "examples" / "plugins", tmp_path / "examples" / "plugins")
    assert _run("python examples/plugins/example_keras.py gated_cnn.keras", tmp_path).returncode == 0
    r = _run("nnconvert check gated_cnn.keras", tmp_path)
    assert r.returncode == 3 and "ChannelGate x1" in r.stdout and "plugin" in r.stdout
    r = _run("nnconvert check examples/plugins/example_torch.py:build", tmp_path)
    assert r.returncode == 3 and "example.scaled_tanh.default x1" in r.stdout
    r = _run("nnconvert convert gated_cnn.keras -o x.onnx", tmp_path)
    assert r.returncode == 3 and not (tmp_path / "x.onnx").exists()


GAP_PLUGIN = textwrap.dedent("""
    from convert.plugins import register_exporter, register_op

    register_op("test.Opaque", "X", "Y", doc="an op no target can write")
    register_op("test.Late", "X", "Y", doc="an op ONNX can write from opset 18")

    @register_exporter("onnx", "test.Late", since=18)
    def export_late(ctx, node):
        ctx.emit("Identity", node.inputs, node.outputs, name=node.name)
""")

GAP_SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from click.testing import CliRunner
    from convert.cli.main import main
    from convert.ir import save
    from convert.ir.builder import GraphBuilder
    from convert.ir.graph import Source
    from convert.plugins import load_plugins

    plugin, folder = sys.argv[1], Path(sys.argv[2])
    load_plugins([plugin])

    def graph(ops):
        b = GraphBuilder("gaps", "test")
        y = b.input("x", shape=("batch", 3))
        for i, op in enumerate(ops):
            b.source = Source("test", op, f"layer{i}")
            y = b.op(op, y)
        b.output(y)
        return b.finish()

    save(graph(["Relu", "test.Opaque", "Sigmoid", "test.Opaque", "test.Late"]), folder / "gaps.nnir")
    save(graph(["Relu", "test.Late"]), folder / "late.nnir")
    out = {}

    def run(key, *args):
        r = CliRunner().invoke(main, ["--plugin", plugin, *map(str, args)])
        out[key] = {"code": r.exit_code, "text": r.output}

    for target, name in [("onnx", "m.onnx"), ("torch", "m.pt2"), ("keras", "m.keras"), ("caffe", "m.prototxt")]:
        run(f"check-{target}", "check", folder / "gaps.nnir", "--to", target)
        run(f"convert-{target}", "convert", folder / "gaps.nnir", "-o", folder / "out" / name)
    run("late-17", "check", folder / "late.nnir", "--opset", "17")
    run("late-18", "check", folder / "late.nnir", "--opset", "18")
    run("late-convert-18", "convert", folder / "late.nnir", "-o", folder / "late.onnx", "--opset", "18")
    out["written"] = sorted(p.name for p in (folder / "out").iterdir()) if (folder / "out").exists() else []
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def gaps(tmp_path_factory):
    d = tmp_path_factory.mktemp("gaps")
    (d / "gap_plugin.py").write_text(GAP_PLUGIN)
    r = subprocess.run([sys.executable, "-c", GAP_SCRIPT, str(d / "gap_plugin.py"), str(d)], env=env_without_gpu(),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("target", ["onnx", "torch", "keras", "caffe"])
def test_check_lists_every_gap_at_once(gaps, target):
    r = gaps[f"check-{target}"]
    assert r["code"] == 3, r["text"]
    assert "test.Opaque x2" in r["text"] and "layer1" in r["text"] and "layer3" in r["text"]
    if target != "onnx":  # ONNX can write test.Late (from opset 18); the others cannot
        assert "test.Late x1" in r["text"] and "layer4" in r["text"]


@pytest.mark.parametrize("target", ["onnx", "torch", "keras", "caffe"])
def test_convert_runs_the_check_first(gaps, target):
    r = gaps[f"convert-{target}"]
    assert r["code"] == 3 and "test.Opaque x2" in r["text"], r["text"]
    assert gaps["written"] == []


def test_check_hints_a_higher_opset(gaps):
    assert gaps["late-17"]["code"] == 3 and "needs opset >= 18" in gaps["late-17"]["text"]
    assert gaps["late-18"]["code"] == 0 and gaps["late-convert-18"]["code"] == 0, gaps["late-convert-18"]["text"]


def test_plugin_api_errors_are_usage_errors(tmp_path):
    bad = tmp_path / "bad_plugin.py"
    bad.write_text("from convert.plugins import register_importer\nregister_importer('tensorflow', 'X')\n")
    r = subprocess.run(CLI + ["--plugin", str(bad), "formats"], capture_output=True, text=True, timeout=120,
                       env=env_without_gpu())
    assert r.returncode == 2 and "unknown framework 'tensorflow'" in r.stderr
    assert "Traceback" not in r.stderr


def test_check_judges_the_graph_the_writer_gets(tmp_path):
    """Sigmoid of a constant has no Caffe layer, but constant folding removes it before
    writing: check (like convert) looks at the optimised graph unless --no-optimize."""
    import numpy as np

    from convert.ir import save
    from convert.ir.builder import GraphBuilder
    from convert.ir.graph import Source
    from robust_models import cli

    b = GraphBuilder("gate", "test")
    b.source = Source("test", "ChannelGate", "gate")
    x = b.input("x", shape=("batch", 4, 5, 5))
    g = b.op("Sigmoid", b.weight("g", np.linspace(-1, 1, 4, dtype=np.float32).reshape(4, 1, 1)))
    b.output(b.op("Mul", x, g))
    save(b.finish(), tmp_path / "gate.nnir")
    r = cli("check", tmp_path / "gate.nnir", "--to", "caffe")
    assert r.exit_code == 0, r.output
    r = cli("check", tmp_path / "gate.nnir", "--to", "caffe", "--no-optimize")
    assert r.exit_code == 3 and "Sigmoid x1" in r.output and "gate" in r.output
    r = cli("convert", tmp_path / "gate.nnir", "-o", tmp_path / "gate.prototxt", "--verify")
    assert r.exit_code == 0 and "verification PASS" in r.output, r.output
