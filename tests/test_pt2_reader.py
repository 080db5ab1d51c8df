"""The .pt2 archive reader: the IR it gives equals the one from torch.export.load, the
converted model matches torch's own output, conversion works where torch cannot be
imported, and the symbolic-expression grammar and ATen argument table hold."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convert.importers.torch import pt2_expr
from convert.importers.torch.loader import _load_pt2
from helpers import skip_unless_torch_reads_pt2_layout

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "tiny_resnet.pt2"
RTOL = ATOL = 1e-4


def _models():
    import torch
    from torch import nn

    class Recurrent(nn.Module):  # 2-layer bidirectional LSTM + GRU, batch first
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 5, num_layers=2, batch_first=True, bidirectional=True)
            self.gru = nn.GRU(10, 3, batch_first=True)
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            y, (h, _c) = self.lstm(x)
            z, _ = self.gru(y)
            return self.fc(z[:, -1]), h.sum(0)

    class Dynamic(nn.Module):  # view(x.size(0), -1), a lifted constant, pooling, norms, softmax
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 3, stride=2, padding=1)
            self.bn = nn.BatchNorm2d(6)
            self.pool = nn.MaxPool2d(2)
            self.norm = nn.LayerNorm(24)
            self.fc = nn.Linear(24, 5)
            self.offset = torch.linspace(-1.0, 1.0, 24)  # a plain attribute: a lifted constant

        def forward(self, x):
            y = self.pool(torch.relu(self.bn(self.conv(x))))
            y = y.view(y.size(0), -1) + self.offset
            return torch.softmax(self.fc(self.norm(y)), dim=-1)

    torch.manual_seed(0)
    dyn = Dynamic()
    with torch.no_grad():  # calibrated BatchNorm statistics, non-trivial affine parameters
        dyn.train()
        dyn(torch.randn(8, 3, 8, 10) * 2 + 0.5)
        dyn.bn.weight.uniform_(0.5, 1.5)
        dyn.bn.bias.uniform_(-0.5, 0.5)
        dyn.norm.weight.uniform_(0.5, 1.5)
    class TwoInputs(nn.Module):  # two dynamic batches: torch records guard code relating them
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 4)

        def forward(self, x, y):
            w = self.fc(torch.cat([x, y], 0))
            return torch.cat([w, w], 0), w.reshape(-1, 2)

    rec = Recurrent()
    with torch.no_grad():  # torch's default init is small: weights this large carry signal to the output
        for p in rec.parameters():
            p.uniform_(-1.0, 1.0)
    return {"recurrent": (rec.eval(), [(2, 6, 4)]), "dynamic": (dyn.eval(), [(2, 3, 8, 10)]),
            "two_inputs": (TwoInputs().eval(), [(3, 8), (5, 8)])}


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    """name -> (.pt2 path, live module or None, example input shapes)."""
    import torch

    d = tmp_path_factory.mktemp("pt2")
    out = {"tiny_resnet": (FIXTURE, None, [(2, 3, 32, 32)])}
    for name, (module, shapes) in _models().items():
        ep = torch.export.export(module, tuple(torch.randn(*s) for s in shapes),
                                 dynamic_shapes=tuple({0: torch.export.Dim.AUTO} for _ in shapes))
        torch.export.save(ep, d / f"{name}.pt2")
        out[name] = (d / f"{name}.pt2", module, shapes)
    return out


@pytest.mark.parametrize("name", ["tiny_resnet", "recurrent", "dynamic", "two_inputs"])
def test_ir_equals_the_torch_path(archives, name):
    if name == "tiny_resnet":
        skip_unless_torch_reads_pt2_layout()
    path = archives[name][0]
    ours, theirs = _load_pt2(Path(path)), _load_pt2(Path(path), trust_pickle=True)
    a, b = ours.graph.to_json(), theirs.graph.to_json()
    # The reader names the torch that wrote the file; the torch path, the torch installed.
    a["metadata"].pop("torch_version"), b["metadata"].pop("torch_version")
    assert a == b
    assert ours.graph.weights.keys() == theirs.graph.weights.keys()
    for k, w in theirs.graph.weights.items():
        assert ours.graph.weights[k].dtype == w.dtype and np.array_equal(ours.graph.weights[k], w), k
    assert ours.graph.inputs[0].shape[0] == "batch"  # the batch stayed dynamic
    rng = np.random.RandomState(1)
    x = {v.name: rng.randn(*[3 + i if isinstance(d, str) else d for d in v.shape]).astype(np.float32)
         for i, v in enumerate(ours.graph.inputs)}
    for k, v in theirs.run(x).items():  # the source run after validation is torch's own
        np.testing.assert_array_equal(ours.run(x)[k], v)


@pytest.mark.parametrize("name", ["recurrent", "dynamic"])
def test_converted_model_matches_torch(archives, tmp_path, name):
    import onnxruntime as ort
    import torch

    from convert import convert_file

    path, module, shapes = archives[name]
    shape = shapes[0]
    onnx_path = tmp_path / "m.onnx"
    convert_file(str(path), str(onnx_path))
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.RandomState(2)
    x = rng.randn(3, *shape[1:]).astype(np.float32)  # another batch size than exported with
    got = sess.run(None, {sess.get_inputs()[0].name: x})
    with torch.no_grad():
        want = [t.numpy() for t in torch.utils._pytree.tree_leaves(module(torch.from_numpy(x)))]
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
        # the comparison has teeth: another input, and a 1% change to a middle weight
        other = sess.run(None, {sess.get_inputs()[0].name: rng.randn(*x.shape).astype(np.float32)})
        assert max(np.abs(o - w).max() for o, w in zip(other, want)) > 100 * ATOL
        middle = module.gru.weight_ih_l0 if name == "recurrent" else module.conv.weight
        middle.mul_(1.01)
        try:
            moved = [t.numpy() for t in torch.utils._pytree.tree_leaves(module(torch.from_numpy(x)))]
        finally:
            middle.div_(1.01)
        assert max(np.abs(g - m).max() for g, m in zip(got, moved)) > 10 * ATOL


def test_verify_runs_the_validated_archive(archives, tmp_path):
    from click.testing import CliRunner

    from convert.cli.main import main

    r = CliRunner().invoke(main, ["convert", str(archives["recurrent"][0]), "-o", str(tmp_path / "r.onnx"),
                                  "--verify"])
    assert r.exit_code == 0, r.output
    assert "pass" in r.output.lower()


BLOCK_TORCH = "raise ModuleNotFoundError('torch is not installed here (blocked by the test)', name='torch')\n"


def test_conversion_needs_no_torch(tmp_path):
    """convert / inspect / check of a .pt2 in a process where ``import torch`` fails."""
    import onnxruntime as ort
    import torch

    skip_unless_torch_reads_pt2_layout()  # the oracle loads the fixture with torch

    (tmp_path / "block" / "torch").mkdir(parents=True)
    (tmp_path / "block" / "torch" / "__init__.py").write_text(BLOCK_TORCH)
    env = dict(os.environ, PYTHONPATH=f"{tmp_path / 'block'}{os.pathsep}{ROOT}", CUDA_VISIBLE_DEVICES="")
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "blocked" in probe.stderr
    out = tmp_path / "m.onnx"
    texts = {}
    for args in (["convert", FIXTURE, "-o", out], ["inspect", FIXTURE], ["check", FIXTURE, "--to", "onnx"]):
        r = subprocess.run([sys.executable, str(ROOT / "cli.py"), *map(str, args)], env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        texts[args[0]] = r.stdout
    assert "Conv" in texts["inspect"] and "block.conv1" in texts["inspect"]
    # Verification runs the source in torch: refused in one line naming the extra, nothing written.
    r = subprocess.run([sys.executable, str(ROOT / "cli.py"), "convert", str(FIXTURE), "-o", str(tmp_path / "v.onnx"),
                        "--verify"], env=env, capture_output=True, text=True, timeout=120)
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == 3 and len(errors) == 1 and "nnconvert[torch]" in errors[0], r.stderr
    assert not (tmp_path / "v.onnx").exists()
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.random.RandomState(3).randn(3, 3, 32, 32).astype(np.float32)
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        want = torch.export.load(str(FIXTURE)).module()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    assert np.abs(got - want).max() < ATOL < np.abs(got - sess.run(None, {sess.get_inputs()[0].name: -x})[0]).max()


def test_archive_written_by_torch_2_14(tmp_path):
    """fixtures/tiny_torch214.pt2 was saved by torch 2.14.1 (conv, batch norm, flatten,
    linear; dynamic batch); tiny_torch214_io.npz holds an input and torch's output."""
    import onnxruntime as ort

    from convert import export

    lm = _load_pt2(ROOT / "fixtures" / "tiny_torch214.pt2")
    assert lm.graph.metadata["torch_version"] == "2.14.1" and lm.graph.inputs[0].shape[0] == "batch"
    ref = np.load(ROOT / "fixtures" / "tiny_torch214_io.npz")

    def run(graph, x):
        export(graph, str(tmp_path / "m.onnx"), force=True)
        sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
        return sess.run(None, {sess.get_inputs()[0].name: x})[0]

    got = run(lm.graph, ref["x"])
    np.testing.assert_allclose(got, ref["y"], rtol=RTOL, atol=ATOL)
    assert np.abs(run(lm.graph, -ref["x"]) - ref["y"]).max() > 100 * ATOL
    conv = next(n for n in lm.graph.nodes if n.op == "Conv").inputs[1]
    lm.graph.weights[conv] = lm.graph.weights[conv] * np.float32(1.01)
    assert np.abs(run(lm.graph, ref["x"]) - ref["y"]).max() > 10 * ATOL


@pytest.mark.parametrize("text, printed", [
    ("Symbol('s77', positive=True, integer=True)", "s77"),
    ("Mul(Integer(50), Symbol('s77', positive=True, integer=True))", "50*s77"),
    ("Add(Symbol('s1', integer=True), Integer(-1))", "s1 - 1"),
    ("FloorDiv(Symbol('s0', integer=True), Integer(2))", "(s0//2)"),
    ("Mod(Symbol('s0', integer=True), Integer(3))", "Mod(s0, 3)"),
    ("2*s0 + 1", "2*s0 + 1"),  # older torch wrote str(): kept as written
    ("s0**2", "s0**2"),
])
def test_expression_grammar_accepts(text, printed):
    assert pt2_expr.dim_text(text) == printed


@pytest.mark.parametrize("text", [
    "__import__('os').system('true')", "Symbol('x').__class__", "lambda: 0", "s0.real", "exec(s0)",
    "Symbol('s0', evaluate=__import__)", "Symbol(\"s0\")", "s0 if s0 else 1", "Integer(" + "9" * 40 + ")",
    "(" * 100 + "s0" + ")" * 100, "s0 ** s1", "[s0]", "s0; s1", "Symbol('s0'\n)\nimport os", "x" * 5000,
])
def test_expression_grammar_refuses(text):
    with pytest.raises(pt2_expr.ExprError):
        pt2_expr.parse(text)


def test_argument_table_matches_torch():
    """The generated table equals torch's schemas (regenerate with
    ``python -m convert.importers.torch.aten_schemas`` after adding a handler)."""
    from convert.importers.torch.aten_schema_table import SCHEMAS
    from convert.importers.torch.aten_schemas import _handled_keys, table_from_torch

    want = table_from_torch(_handled_keys())
    assert want == {k: list(v) for k, v in SCHEMAS.items()}, (
        f"aten_schema_table.py is stale (missing {sorted(set(want) - set(SCHEMAS))[:5]}, changed "
        f"{sorted(k for k in want if k in SCHEMAS and list(SCHEMAS[k]) != want[k])[:5]}): run "
        "python -m convert.importers.torch.aten_schemas")
