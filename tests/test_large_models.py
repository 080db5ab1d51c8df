"""Models past protobuf's 2 GiB limit: conversion to ONNX with external data, bounded memory.

Each case builds a synthetic model of a few very wide fully connected layers (3 x
16384 x 11000 float32, 2.01 GiB of weights), converts it in a fresh subprocess that
records its own peak RSS, then runs the ONNX file (one relative ``.data`` file) in
onnxruntime on a tiny batch against the source framework's output recorded by the
subprocess that built the model.

Memory bound: peak RSS of the converting process minus its RSS after the imports must
stay under 1.5 x the weight bytes + OVERHEAD. A live torch module already holds its
weights, so it pays 1x before conversion starts; a Keras file is read once (h5py
straight from the stored zip member). Caffe is not covered: a caffemodel is one
protobuf message and cannot exceed 2 GiB.

``NNCONVERT_LARGE_DIMS=rows,cols`` shrinks the model for a quick local run (the
2 GiB assertion is skipped then).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import assert_close

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DIMS = (16384, 11000)
ROWS, COLS = (int(d) for d in os.environ.get("NNCONVERT_LARGE_DIMS", "%d,%d" % DEFAULT_DIMS).split(","))
# Past 1.8 GiB the writer picks external data by itself; a shrunk model asks for it.
WRITER = {} if (ROWS, COLS) == DEFAULT_DIMS else {"external": True}
OVERHEAD = 512 * 2**20  # interpreter, torch.export / onnx bookkeeping, I/O buffers
ENV = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
       "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def _peak() -> int:
    sys.path.insert(0, str(Path(__file__).parent))  # run as a script, too
    from peak import peak_rss

    return peak_rss()


# -- workers (run in fresh processes: ``python tests/test_large_models.py <worker> <dir>``) --
def torch_worker(out: Path) -> dict:
    """Build the torch model, record its output on a tiny batch, convert the live module."""
    import torch

    from convert.api import export
    from convert.importers.torch import from_torch

    base = _rss()
    torch.manual_seed(0)
    with torch.no_grad():
        model = torch.nn.Sequential(torch.nn.Linear(COLS, ROWS), torch.nn.ReLU(), torch.nn.Linear(ROWS, COLS),
                                    torch.nn.Tanh(), torch.nn.Linear(COLS, ROWS)).eval()
        x = torch.randn(2, COLS)
        np.savez(out / "io.npz", x=x.numpy(), y=model(x).numpy())
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    graph = from_torch(model, (x,))
    export(graph, out / "model.onnx", "onnx", **WRITER)
    return {"base": base, "peak": _peak(), "weight_bytes": weight_bytes}


def keras_build_worker(out: Path) -> dict:
    """Build and save the Keras model (its own process: TensorFlow's memory is not ours)."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((COLS,))
    y = keras.layers.Dense(ROWS, activation="relu")(inp)
    y = keras.layers.Dense(COLS, activation="tanh")(y)
    model = keras.Model(inp, keras.layers.Dense(ROWS)(y))
    x = np.random.default_rng(0).standard_normal((2, COLS)).astype(np.float32)
    np.savez(out / "io.npz", x=x, y=np.asarray(model(x)))
    model.save(out / "model.keras")
    return {"weight_bytes": sum(int(np.prod(w.shape)) * 4 for w in model.weights)}


def keras_convert_worker(out: Path) -> dict:
    """Convert the .keras file through the same path as ``nnconvert convert``."""
    from convert.api import convert_file

    base = _rss()
    convert_file(str(out / "model.keras"), str(out / "model.onnx"), writer_options=WRITER)
    assert not [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")]
    return {"base": base, "peak": _peak()}


WORKERS = {"torch": torch_worker, "keras-build": keras_build_worker, "keras": keras_convert_worker}


def _run(worker: str, out: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, worker, str(out)], env=ENV, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, f"{worker} worker failed:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


CASES = {"torch-live-module": ["torch"], "keras-file": ["keras-build", "keras"]}


@pytest.mark.parametrize("case", list(CASES))
def test_large_model_to_onnx(case, tmp_path):
    info: dict = {}
    for worker in CASES[case]:
        info.update(_run(worker, tmp_path))
    weights = info["weight_bytes"]
    if (ROWS, COLS) == DEFAULT_DIMS:
        assert weights > 2**31, "the model must be past protobuf's 2 GiB limit"

    # One model file plus one data file, referenced by a relative location.
    written = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("model.onnx"))
    assert written == ["model.onnx", "model.onnx.data"]
    assert (tmp_path / "model.onnx").stat().st_size < 1 << 20
    import onnx

    proto = onnx.load(str(tmp_path / "model.onnx"), load_external_data=False)
    locations = {e.value for t in proto.graph.initializer for e in t.external_data if e.key == "location"}
    assert locations == {"model.onnx.data"}

    grown = info["peak"] - info["base"]
    bound = 1.5 * weights + OVERHEAD
    assert grown <= bound, (f"peak RSS grew {grown / 2**20:.0f} MiB during conversion, over the bound "
                            f"{bound / 2**20:.0f} MiB (1.5 x {weights / 2**20:.0f} MiB weights + overhead)")

    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(tmp_path / "model.onnx"), so, providers=["CPUExecutionProvider"])
    io = np.load(tmp_path / "io.npz")
    (got,) = sess.run(None, {sess.get_inputs()[0].name: io["x"]})
    # Dot products over 11000-16384 terms: float32 summation order differs between
    # frameworks, so atol is relative to the output scale.
    assert_close(got, io["y"], rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(io["y"]).max())), what=case)


if __name__ == "__main__":
    name, folder = sys.argv[1], Path(sys.argv[2])
    sys.path.insert(0, str(REPO))
    print(json.dumps(WORKERS[name](folder)))
