"""Shared helpers for the Keras importer tests: build, randomise, save, convert, compare."""
from __future__ import annotations

import os

import numpy as np

from helpers import assert_close, run_onnx

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def keras():
    import keras as k

    return k


def seq_model(shape, *layers, dtype="float32", name="x"):
    """Input(shape) -> layers -> Model."""
    k = keras()
    x = inp = k.Input(shape, name=name, dtype=dtype)
    for layer in layers:
        x = layer(x)
    return k.Model(inp, x)


def randomize(model, seed: int = 0) -> None:
    """Random weights everywhere (variances positive), so no layer is tested at its identity init."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape = tuple(w.shape)
        if "variance" in w.path:
            val = rng.uniform(0.5, 1.5, shape)
        elif "count" in w.path:
            continue
        else:
            val = rng.standard_normal(shape) * 0.5
        w.assign(val.astype(w.dtype))


def make_inputs(model, seed: int = 1, batch: int = 2, int_high: int = 10) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for t in model.inputs:
        shape = [batch] + [d for d in t.shape[1:]]
        if "int" in str(t.dtype):
            out.append(rng.integers(0, int_high, shape).astype(str(t.dtype).split(".")[-1]))
        else:
            out.append(rng.standard_normal(shape).astype("float32"))
    return out


def keras_outputs(model, xs) -> list[np.ndarray]:
    outs = model(xs if len(xs) > 1 else xs[0], training=False)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    return [np.asarray(o) for o in outs]


def check(graph, model, xs, rtol=1e-4, atol=1e-5, io_layout="nhwc"):
    """Run the converted graph in onnxruntime and compare with Keras' own output."""
    feeds = {}
    for v, x in zip(graph.inputs, xs):
        feeds[v.name] = _to_interface(x, io_layout)
    got = run_onnx(graph, feeds)
    want = keras_outputs(model, xs)
    assert len(graph.outputs) == len(want)
    for v, w in zip(graph.outputs, want):
        assert_close(got[v.name], _to_interface(w, io_layout), rtol=rtol, atol=atol, what=v.name)


def _to_interface(x: np.ndarray, io_layout: str) -> np.ndarray:
    if io_layout == "nchw" and x.ndim >= 3:
        return np.transpose(x, (0, x.ndim - 1, *range(1, x.ndim - 1)))
    return x
