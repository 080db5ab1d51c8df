"""Tiny Keras files written by hand with h5py and zipfile (no Keras, no TensorFlow in the
test process), and ways to rewrite them: the raw material of the hostile-file tests."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

RNG = np.random.default_rng(0)
KERNEL = RNG.standard_normal((4, 3)).astype(np.float32)
BIAS = RNG.standard_normal(3).astype(np.float32)


def dense_config(legacy: bool) -> dict:
    shape_key = "batch_input_shape" if legacy else "batch_shape"
    layers = [{"class_name": "InputLayer", "config": {shape_key: [None, 4], "dtype": "float32", "name": "x"}},
              {"class_name": "Dense", "config": {"name": "dense", "units": 3, "activation": "linear",
                                                 "use_bias": True}}]
    return {"class_name": "Sequential", "config": {"name": "seq", "layers": layers}}


def dense_reference(x: np.ndarray) -> np.ndarray:
    """What Keras' Dense computes: x @ kernel + bias."""
    return x @ KERNEL + BIAS


def k3_weights(edit: Callable | None = None) -> bytes:
    """The ``model.weights.h5`` of a Keras 3 archive, optionally edited in place."""
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        v = f.create_group("layers/dense/vars")
        v["0"], v["1"] = KERNEL, BIAS
        if edit:
            edit(f)
    return buf.getvalue()


def write_keras(path: Path, edit: Callable | None = None, config: dict | None = None,
                members: dict | None = None) -> Path:
    """A ``.keras`` archive of one Dense layer; ``edit(h5)`` changes its weights file,
    ``members`` replaces or adds raw zip members."""
    parts = {"metadata.json": json.dumps({"keras_version": "3.5.0"}).encode(),
             "config.json": json.dumps(config or dense_config(False)).encode(),
             "model.weights.h5": k3_weights(edit)}
    parts.update(members or {})
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return path


def write_h5(path: Path, edit: Callable | None = None, config: dict | None = None) -> Path:
    """A legacy tf.keras ``.h5`` full-model file of one Dense layer."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config or dense_config(True))
        f.attrs["keras_version"] = "2.15.0"
        g = f.create_group("model_weights/dense")
        g.attrs["weight_names"] = [b"dense/kernel:0", b"dense/bias:0"]
        g["dense/kernel:0"], g["dense/bias:0"] = KERNEL, BIAS
        if edit:
            edit(f)
    return path
