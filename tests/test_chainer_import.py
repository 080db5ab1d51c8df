"""Chainer models (chainer.links.model.vision and a hand-built L.LSTM net) walked from
their output in Chainer's own environment (NNCONVERT_CHAINER_PYTHON), converted, and
compared with Chainer's outputs in ONNX, torch and Keras at 1e-4 * max(1, max|ref|)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from helpers import assert_close
from own_env import run_target, tolerance

NETS = str(Path(__file__).with_name("chainer_nets.py"))
ENV = "NNCONVERT_CHAINER_PYTHON"
# factory -> input shape (two samples in the batch: shapes are static in Chainer graphs)
SHAPES = {"lstm": (2, 3, 5), "nstep_lstm": (2, 3, 5), "resnet50": (2, 3, 64, 64), "googlenet": (2, 3, 224, 224)}
MODELS = ["lstm", "nstep_lstm", "resnet50", pytest.param("googlenet", marks=pytest.mark.slow)]
# IR ops the Keras exporter refuses (listed by layer before anything is written)
KERAS_REFUSES = {"nstep_lstm": {"Split"}, "googlenet": {"LRN"}}  # NStepLSTM splits its time-major input along axis 0
_CACHE: dict = {}


@pytest.fixture(scope="module", autouse=True)
def chainer_env():
    exe = os.environ.get(ENV)
    if not exe or not Path(exe).exists():
        pytest.skip(f"Chainer environment absent: set {ENV} to a python with chainer==7.8.1 and numpy<2 "
                    f"(.ci/run creates one)")


def _sample(seed, shape):
    rng = np.random.RandomState(seed)
    if len(shape) == 3:
        return rng.uniform(-1, 1, shape).astype(np.float32)
    coarse = rng.uniform(-1.5, 1.5, (*shape[:2], 4, 4))
    big = np.repeat(np.repeat(coarse, -(-shape[2] // 4), 2), -(-shape[3] // 4), 3)[:, :, :shape[2], :shape[3]]
    return (big + rng.normal(0, 0.3, shape)).astype(np.float32)


def _model(name):
    """(graph, input, Chainer's output, Chainer's output with a middle weight changed by 1%)."""
    if name not in _CACHE:
        from convert.importers.chainer import load, run_chainer

        shape = SHAPES[name]
        loaded = load(f"{NETS}:{name}", input_shapes={"x": shape})
        x = _sample(1, shape)
        y = loaded.run({loaded.graph.inputs[0].name: x})[loaded.graph.outputs[0].name]
        y_pert = run_chainer(NETS, f"{name}_perturbed", None, {"x": x})
        _CACHE[name] = loaded.graph, x, y, y_pert
    return _CACHE[name]


@pytest.mark.parametrize("model", MODELS)
def test_chainer_outputs_carry_signal(model):
    _, _, y, y_pert = _model(model)
    _assert_signal(y[0], y[1], y_pert, y)


def _assert_signal(y, y_other, y_pert, y_base):
    """As for the torchvision corpus: another input moves the output past 100x the
    tolerance, a 1% change to a middle weight past 10x."""
    tol = tolerance(y_base)
    assert np.abs(y_other - y).max() > 100 * tol, "another input barely moves the output"
    assert np.abs(y_pert - y_base).max() > 10 * tol, "a 1% change to a middle weight barely moves the output"


@pytest.mark.parametrize("target", ["onnx", "torch", "keras"])
@pytest.mark.parametrize("model", MODELS)
def test_chainer_matches(model, target):
    graph, x, y, _ = _model(model)
    if target == "keras":
        from convert.api import prepare
        from convert.exporters.keras import unsupported

        refused = {g.layer_type for g in unsupported(prepare(graph)[0])}
        assert refused == KERAS_REFUSES.get(model, set())
        if refused:
            return
    assert_close(run_target(graph, target, x), y, rtol=0, atol=tolerance(y), what=f"{model} -> {target}")


def test_cli_verify_and_unpickled_weights(tmp_path):
    from click.testing import CliRunner

    from convert.cli.main import main

    base = ["convert", f"{NETS}:lstm", "--from", "chainer", "--input-shape", "x:2,3,5"]
    res = CliRunner().invoke(main, base + ["-o", str(tmp_path / "m.onnx"), "--verify"])
    assert res.exit_code == 0, res.output
    assert "verification PASS" in res.output
    # Chainer's own load_npz would unpickle object arrays; nnconvert reads weights without pickle
    shapes = {"inp/W": (6, 5), "inp/b": (6,), "lstm/upward/W": (28, 6), "lstm/upward/b": (28,),
              "lstm/lateral/W": (28, 7), "out/W": (4, 7), "out/b": (4,)}
    arrays = {k: np.zeros(s, np.float32) for k, s in shapes.items()}
    arrays["inp/W"] = np.array([object()], dtype=object)
    np.savez(tmp_path / "evil.npz", **arrays)
    res = CliRunner().invoke(main, base + ["--weights", str(tmp_path / "evil.npz"), "-o", str(tmp_path / "e.onnx")])
    assert res.exit_code == 3
    assert "allow_pickle=False" in res.output and not (tmp_path / "e.onnx").exists()


@pytest.mark.slow
def test_vgg16_layers_match_chainer(tmp_path):
    """VGG16Layers (138M parameters; fc6 needs 224x224, so one image) converted by the CLI
    in its own process and run in onnxruntime against Chainer's outputs."""
    import subprocess
    import sys

    import onnxruntime as ort

    from convert.importers.chainer import run_chainer

    shape = (1, 3, 224, 224)
    x = _sample(1, shape)
    y = run_chainer(NETS, "vgg16", None, {"x": x})
    _assert_signal(y, run_chainer(NETS, "vgg16", None, {"x": _sample(2, shape)}),
                   run_chainer(NETS, "vgg16_perturbed", None, {"x": x}), y)
    out = tmp_path / "vgg16.onnx"
    cli = Path(__file__).resolve().parents[1] / "cli.py"
    r = subprocess.run([sys.executable, str(cli), "convert", f"{NETS}:vgg16", "--from", "chainer", "--input-shape",
                        "x:1,3,224,224", "-o", str(out)], capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    assert_close(got, y, rtol=0, atol=tolerance(y), what="vgg16 -> onnx")
