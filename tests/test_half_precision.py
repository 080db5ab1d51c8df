"""--precision fp16/bf16 for the ONNX and torch targets: a CNN with BatchNorm and a
BERT-style encoder block (embeddings, attention with an explicit softmax, LayerNorm,
GELU MLP) converted from .pt2 files, compared with the float32 torch source.

The tolerance of a half-precision output is relative to the output's scale (max |source|):
fp16 1e-2, bf16 5e-2 (see README "Half precision"). The files are checked to really hold
half-precision weights, LayerNorm and Softmax to run in float32, and the interface to stay
float32."""
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
nn, F = torch.nn, torch.nn.functional

from convert.api import convert_file  # noqa: E402

TOL = {"fp16": 1e-2, "bf16": 5e-2}
HALF_ONNX = {"fp16": onnx.TensorProto.FLOAT16, "bf16": onnx.TensorProto.BFLOAT16}
HALF_TORCH = {"fp16": torch.float16, "bf16": torch.bfloat16}


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.c2, self.b2 = nn.Conv2d(8, 12, 3, stride=2, padding=1), nn.BatchNorm2d(12)
        self.fc = nn.Linear(12, 7)

    def forward(self, x):
        x = F.relu(self.b1(self.c1(x)))
        x = F.relu(self.b2(self.c2(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Encoder(nn.Module):
    """One post-norm BERT layer with token and position embeddings and a token head."""

    def __init__(self, d=16, heads=2, vocab=30, seq=7, sdpa=False):
        super().__init__()
        self.heads, self.seq, self.sdpa = heads, seq, sdpa
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(seq, d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.fc1, self.fc2, self.head = nn.Linear(d, 4 * d), nn.Linear(4 * d, d), nn.Linear(d, 5)

    def forward(self, ids):
        b, t = ids.shape
        x = self.tok(ids) + self.pos(torch.arange(self.seq))
        q, k, v = (z.reshape(b, t, self.heads, -1).transpose(1, 2) for z in self.qkv(x).split(x.shape[-1], -1))
        if self.sdpa:  # the IR's Attention op
            y = F.scaled_dot_product_attention(q, k, v)
        else:
            y = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) @ v
        x = self.ln1(x + self.proj(y.transpose(1, 2).reshape(b, t, -1)))
        x = self.ln2(x + self.fc2(F.gelu(self.fc1(x))))
        return self.head(x)


def _signal(model: nn.Module, calibrate) -> nn.Module:
    """Trained-like weights: every parameter redrawn (LayerNorm's ones and zeros too) and
    BatchNorm statistics from a calibration batch."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (0.2 if name.endswith("bias") else 0.5) + (1.0 if "ln" in name and
                                                                                      name.endswith("weight") else 0))
        if calibrate is not None:
            model.train()
            model(calibrate)
    return model.eval()


def _cnn_input(batch, seed):
    return torch.randn(batch, 3, 9, 11, generator=torch.Generator().manual_seed(seed))


def _ids(batch, seed):
    return torch.randint(0, 30, (batch, 7), generator=torch.Generator().manual_seed(seed))


CASES = {"cnn": (Cnn, _cnn_input, "c2.weight"), "encoder": (Encoder, _ids, "fc1.weight"),
         "encoder_sdpa": (lambda: Encoder(sdpa=True), _ids, "fc1.weight")}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """name -> (.pt2 path, float32 module, input maker): exported once per module, batch dynamic."""
    out, root = {}, tmp_path_factory.mktemp("half")
    for name, (cls, make, _) in CASES.items():
        torch.manual_seed(0)
        model = _signal(cls(), make(16, 99) if name == "cnn" else None)
        ep = torch.export.export(model, (make(2, 0),), dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
        path = root / f"{name}.pt2"
        torch.export.save(ep, str(path))
        out[name] = (path, model, make)
    return out


def _run_target(path, inputs):
    if path.suffix == ".onnx":
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return sess.run(None, {sess.get_inputs()[0].name: inputs.numpy()})[0]
    with torch.no_grad():
        return torch.export.load(str(path)).module()(inputs).numpy()


def _assert_within(got, want, precision):
    """The verify rule with the tolerance relative to the output scale, computed here."""
    tol = TOL[precision]
    allowed = tol * np.max(np.abs(want)) + tol * np.abs(want)
    assert got.dtype == np.float32  # the interface stays float32
    assert np.all(np.abs(got - want) <= allowed), f"max error {np.max(np.abs(got - want)):.3g}"
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
@pytest.mark.parametrize("suffix", [".onnx", ".pt2"])
@pytest.mark.parametrize("name", ["cnn", "encoder"])
def test_half_matches_float32_source(sources, tmp_path, name, suffix, precision):
    src, model, make = sources[name]
    out = tmp_path / f"{name}_{precision}{suffix}"
    res = convert_file(str(src), str(out), verify=True, precision=precision)
    assert res.report.ok and res.report.precision == precision
    assert json.loads(res.report.dumps())["precision"] == precision
    assert any("computed in float32" in c for c in dict(res.passes)["precision"])
    for batch, seed in ((1, 5), (3, 6)):  # the batch stays dynamic
        x = make(batch, seed)
        with torch.no_grad():
            want = model(x).numpy()
        rel = _assert_within(_run_target(out, x), want, precision)
        assert rel > 1e-6, "no half-precision rounding at all: the file computes in float32"
        print(f"{name} {suffix} {precision} batch {batch}: max error {rel:.1e} of the output scale")
    _assert_half_file(out, precision)


def _assert_half_file(path, precision):
    """Weights in the half dtype, LayerNorm/Softmax (and the mean) reading float32."""
    if path.suffix == ".onnx":
        m = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
        kinds = {t.name: t.data_type for t in m.graph.initializer}
        big = [t for t in m.graph.initializer if np.prod(t.dims) >= 16 and t.data_type != onnx.TensorProto.INT64]
        assert big and all(t.data_type == HALF_ONNX[precision] for t in big
                           if not any(t.name in n.input for n in m.graph.node if n.op_type == "LayerNormalization"))
        elem = {v.name: v.type.tensor_type.elem_type for v in [*m.graph.value_info, *m.graph.input, *m.graph.output]}
        elem.update(kinds)
        assert all(v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for v in m.graph.output)
        for n in m.graph.node:
            if n.op_type in ("LayerNormalization", "Softmax", "ReduceMean", "GlobalAveragePool"):
                assert all(elem[i] == onnx.TensorProto.FLOAT for i in n.input if i), n.name
            if precision == "bf16" and n.op_type != "Cast":  # onnxruntime's CPU provider computes none in bf16
                assert all(elem.get(i) != onnx.TensorProto.BFLOAT16 for i in n.input if i), n.name
        return
    ep = torch.export.load(str(path))
    state = ep.state_dict
    assert all(v.dtype == HALF_TORCH[precision] for k, v in state.items()
               if v.is_floating_point() and "ln" not in k and "running" not in k), {k: v.dtype for k, v in state.items()}
    checked = 0
    for node in ep.graph.nodes:
        target = str(node.target)
        if any(op in target for op in ("layer_norm", "softmax", "aten.mean", "adaptive_avg_pool")):
            assert node.args[0].meta["val"].dtype == torch.float32, node
            checked += 1
        elif "aten.linear" in target or "convolution" in target:
            assert node.args[0].meta["val"].dtype == HALF_TORCH[precision], node
    assert checked


@pytest.mark.parametrize("name", list(CASES))
def test_signal(sources, name):
    """Another input moves the output far past the bf16 tolerance, so a wrong input mapping
    cannot pass. A 1% change to a middle weight moves these outputs by 0.4-0.7% of their
    scale: far past the float32 tolerance (where the same models convert exactly), but under
    fp16's 1%: half-precision verification cannot see an error that small, so a 10% change
    must clear the fp16 tolerance twice over."""
    _, model, make = sources[name]
    x = make(3, 5)
    w = dict(model.named_parameters())[CASES[name][2]]
    saved = w.detach().clone()
    with torch.no_grad():
        want = model(x).numpy()
        scale = float(np.max(np.abs(want)))
        assert np.max(np.abs(model(make(3, 7)).numpy() - want)) > 5 * TOL["bf16"] * scale
        moved = {}
        for change in (1.01, 1.1):
            w.copy_(saved * change)
            moved[change] = float(np.max(np.abs(model(x).numpy() - want)))
        w.copy_(saved)
    assert moved[1.01] > 5 * 1e-4 * (1 + scale)  # the fp32 rule: 1e-4 relative plus 1e-4 absolute
    assert moved[1.1] > 2 * TOL["fp16"] * scale


@pytest.mark.parametrize("opset", [17, 23])
def test_attention_softmax_in_float32(sources, tmp_path, opset):
    """The Attention op in fp16: its softmax in float32, decomposed (opset 17: Cast around
    Softmax) and as ONNX's own op (opset 23: softmax_precision)."""
    src, model, make = sources["encoder_sdpa"]
    out = tmp_path / f"sdpa{opset}.onnx"
    assert convert_file(str(src), str(out), writer_options={"opset": opset}, verify=True, precision="fp16").report.ok
    x = make(3, 6)
    with torch.no_grad():
        _assert_within(_run_target(out, x), model(x).numpy(), "fp16")
    m = onnx.shape_inference.infer_shapes(onnx.load(str(out)))
    elem = {v.name: v.type.tensor_type.elem_type for v in m.graph.value_info}
    if opset == 23:
        (att,) = [n for n in m.graph.node if n.op_type == "Attention"]
        assert {a.name: a.i for a in att.attribute}["softmax_precision"] == onnx.TensorProto.FLOAT
        assert elem[att.input[0]] == onnx.TensorProto.FLOAT16
    else:
        soft = [n for n in m.graph.node if n.op_type == "Softmax"]
        assert soft and all(elem[n.input[0]] == onnx.TensorProto.FLOAT for n in soft)
        assert any(elem.get(n.input[0]) == onnx.TensorProto.FLOAT16 for n in m.graph.node if n.op_type == "MatMul")


class _LstmHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn, self.fc = nn.LSTM(6, 8, batch_first=True), nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(self.rnn(x)[0])


def test_onnx_fp16_never_writes_a_file_onnxruntime_cannot_load(tmp_path):
    """onnxruntime 1.32's optimiser crashes loading this fp16 graph (MatMul behind the
    LSTM's Transpose/Reshape/Transpose): the file is probed in a subprocess before it is
    kept, so either it loads and matches, or the conversion fails naming the way out."""
    from convert.errors import NNConvertError

    torch.manual_seed(0)
    model, x = _LstmHead().eval(), torch.randn(2, 5, 6)
    src, out = tmp_path / "lstm.pt2", tmp_path / "lstm.onnx"
    torch.export.save(torch.export.export(model, (x,)), str(src))
    try:
        convert_file(str(src), str(out), precision="fp16")
    except NNConvertError as e:
        assert "onnxruntime cannot load the fp16 ONNX model" in str(e) and "precision='bf16'" in str(e)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["lstm.pt2"]
    else:
        with torch.no_grad():
            _assert_within(_run_target(out, x), model(x).numpy(), "fp16")
    assert convert_file(str(src), str(tmp_path / "lstm_bf16.onnx"), precision="bf16", verify=True).report.ok


def _cli(*args):
    from click.testing import CliRunner

    from convert.cli.main import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_cli_convert_and_verify(sources, tmp_path):
    """The report states the precision; ``verify`` reads it from the file's metadata, and
    ``--precision fp32`` contradicting the file is a usage error in one line."""
    src = sources["encoder"][0]
    out, report = tmp_path / "enc.onnx", tmp_path / "r.json"
    r = _cli("convert", src, "-o", out, "--precision", "fp16", "--verify", "--report", report,
             "--markdown", tmp_path / "r.md")
    assert r.exit_code == 0, r.output
    assert "- target precision: fp16" in (tmp_path / "r.md").read_text()
    assert "precision: the target computes in fp16" in r.output and "relative to output scale" in r.output
    assert json.loads(report.read_text())["precision"] == "fp16"
    r = _cli("verify", src, out)
    assert r.exit_code == 0 and "computes in fp16 (the file's metadata nnconvert.precision)" in r.output, r.output
    r = _cli("verify", src, out, "--precision", "fp32")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert "--precision fp32 contradicts enc.onnx, which computes in fp16" in r.output
    r = _cli("verify", src, out, "--precision", "fp16")
    assert r.exit_code == 0 and "fp16" in r.output
    r = _cli("inspect", out)
    assert "outputs: output: float32" in r.output and "weights: float16" in r.output


@pytest.mark.parametrize("target,precision", [("m.keras", "fp16"), ("deploy.prototxt", "bf16"),
                                              ("m.tflite", "bf16")])
def test_refused_targets(sources, tmp_path, target, precision):
    """Targets without half-precision compute refuse at once, in one line, writing nothing."""
    r = _cli("convert", sources["cnn"][0], "-o", tmp_path / target, "--precision", precision)
    assert r.exit_code == 2, r.output
    assert "--precision" in r.output and "applies to the onnx, torch and torch-source targets" in r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())
