"""Names are data: a model whose graph, layer and value names hold quotes, triple quotes,
backslashes, newlines, format braces, terminal escapes, non-ASCII and 10,000 characters
converts into every target, no code from a name runs (the payload would write a marker),
and every result loads and computes what torch computes from the same weights."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from hostile import FRAMEWORK_MB, nnconvert

# target -> (--to format, output file name)
TARGETS = {"onnx": ("onnx", "m.onnx"), "pt2": ("torch", "m.pt2"), "torch-source": ("torch-source", "m.py"),
           "keras": ("keras", "m.keras"), "caffe": ("caffe", "m.prototxt")}


def hostile_name(marker: Path, tail: str = "") -> str:
    """A name that, pasted into generated Python anywhere (docstring, string, code),
    closes it and writes ``marker``."""
    code = f"open({str(marker)!r}, 'w').write('ran')"
    return (f'q\'"x"""\'\'\'\\n\\\\ {{}} {{0}} é✓ 名\n\r\x1b[31m"""\n{code}\n"""\'\'\'\n{code}\n\'\'\'#'
            + tail)


def hostile_graph(marker: Path):
    from convert.ir.builder import GraphBuilder
    from convert.ir.graph import Source

    rng = np.random.default_rng(3)
    evil = hostile_name(marker)
    b = GraphBuilder(evil + "model", "test")
    b.source = Source("test", "Conv2d", evil + "conv")
    x = b.input(evil + "input", shape=("batch", 3, 5, 7))
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = b.op("Conv", x, b.weight(evil + "weight", w), kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    b.source = Source("test", "LeakyReLU", hostile_name(marker, "L" * 10_000))
    y = b.op("LeakyRelu", y, alpha=0.2)
    b.source = Source("test", "ReLU", evil + "relu")
    b.output(b.op("Relu", y))
    return b.finish(), w


def torch_reference(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    y = F.leaky_relu(F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1), 0.2)
    return torch.relu(y).numpy()


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from convert.ir import save

    d = tmp_path_factory.mktemp("names")
    marker = d / "marker"
    graph, w = hostile_graph(marker)
    src = d / "evil.nnir"
    save(graph, src)
    runs = {}
    for target, (fmt, name) in TARGETS.items():
        out = d / target
        out.mkdir()
        runs[target] = (nnconvert("convert", src, "-o", out / name, "--to", fmt, seconds=300), out / name)
    return {"marker": marker, "w": w, "runs": runs, "dir": d}


def _load(target: str, path: Path, d: Path):
    """A function numpy NCHW -> numpy, from the written file, in its own runtime."""
    if target == "onnx":
        import onnxruntime as ort

        s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda x: s.run(None, {s.get_inputs()[0].name: x})[0]
    if target == "pt2":
        import torch

        m = torch.export.load(str(path)).module()
        return lambda x: m(torch.from_numpy(x)).detach().numpy()
    if target == "torch-source":
        import torch

        spec = importlib.util.spec_from_file_location("hostile_names_generated", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)  # importing it is what a user does
        m = mod.load_model()
        return lambda x: m(torch.from_numpy(x)).detach().numpy()
    if target == "keras":
        import keras

        m = keras.saving.load_model(str(path), safe_mode=True, compile=False)  # keeps the IR's NCHW interface
        return lambda x: np.asarray(m(x))
    # Caffe (no Caffe runtime here): parse it again with nnconvert into ONNX and run that.
    back = d / "caffe-back.onnx"
    r = nnconvert("convert", path, "--weights", path.with_suffix(".caffemodel"), "-o", back, "--force")
    assert r.code == 0, r.stderr
    return _load("onnx", back, d)


@pytest.mark.parametrize("target", list(TARGETS))
def test_hostile_names_convert_load_and_compute(converted, target):
    r, path = converted["runs"][target]
    assert r.code == 0, r.stderr
    assert r.peak_mb < FRAMEWORK_MB
    assert not converted["marker"].exists(), "a name ran as code while converting"
    run = _load(target, path, converted["dir"])
    assert not converted["marker"].exists(), "a name ran as code while loading the result"
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 3, 5, 7)).astype(np.float32)  # Caffe inputs have a fixed batch
    want = torch_reference(x, converted["w"])
    got = run(x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # The weights carry signal: another input moves the output far past the tolerance.
    x2 = rng.standard_normal(x.shape).astype(np.float32)
    assert np.abs(run(x2) - want).max() > 1e-2


def test_generated_source_keeps_the_name_as_a_literal(converted):
    """The name survives as data (a repr literal in one assignment), never as code."""
    _, path = converted["runs"]["torch-source"]
    text = path.read_text(encoding="utf-8")
    ns: dict = {}
    line = next(ln for ln in text.splitlines() if ln.startswith("SOURCE_MODEL_NAME = "))
    import ast

    assert ast.literal_eval(line.split(" = ", 1)[1]) == hostile_name(converted["marker"]) + "model"
    assert "L" * 100 not in text  # 10,000-character names are not pasted into identifiers
    del ns
    sys.modules.pop("hostile_names_generated", None)
