"""IR -> Keras exporter: torch models imported to the IR, exported to Keras, run in Keras
(TensorFlow backend) and compared against the SOURCE torch model."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import assert_close
from export_cases import CASES, build

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

SUPPORTED = [c for c in CASES if c.keras]
UNSUPPORTED = [c for c in CASES if not c.keras]


def _builtin_only(model) -> None:
    for layer in model.layers:
        assert type(layer).__module__.startswith("keras."), f"{layer.name}: {type(layer)}"
        assert type(layer).__name__ != "Lambda", layer.name


@pytest.mark.parametrize("case", SUPPORTED, ids=lambda c: c.id)
def test_keras_export_matches_source(case):
    from convert.exporters.keras import to_keras, unsupported

    _, x, ref, graph = build(case)
    assert unsupported(graph) == []
    model = to_keras(graph)
    _builtin_only(model)
    out = np.asarray(model(x, training=False))
    assert_close(out, ref, case.rtol, case.atol, case.id)


@pytest.mark.parametrize("case", UNSUPPORTED, ids=lambda c: c.id)
def test_keras_reports_inexpressible_ops(case):
    from convert.errors import UnsupportedError
    from convert.exporters.keras import save, unsupported

    _, _, _, graph = build(case)
    problems = unsupported(graph)
    assert problems and all(p.layer and p.layer_type for p in problems)
    with pytest.raises(UnsupportedError):
        save(graph, "/nonexistent/never-written.keras")


def test_nchw_interface_costs_one_permute_each_way():
    from convert.exporters.keras import to_keras

    case = next(c for c in CASES if c.id == "batchnorm_relu")
    _, _, _, graph = build(case)
    kinds = [type(layer).__name__ for layer in to_keras(graph).layers]
    assert kinds.count("Permute") == 2, kinds


def test_flatten_before_dense_needs_no_permute():
    from convert.exporters.keras import to_keras

    case = next(c for c in CASES if c.id == "reshape_flatten_dense")
    _, x, ref, graph = build(case)
    model = to_keras(graph)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Permute") == 1, kinds  # input only: the Dense rows absorb the flatten order
    assert_close(np.asarray(model(x)), ref, case.rtol, case.atol)


_FRESH = """
import os, sys
os.environ["KERAS_BACKEND"] = "tensorflow"
import numpy as np
import keras
model = keras.saving.load_model(sys.argv[1])
np.save(sys.argv[3], np.asarray(model(np.load(sys.argv[2]), training=False)))
assert not any(m == "convert" or m.startswith("convert.") for m in sys.modules), "nnconvert was imported"
"""

SAVED = ["residual", "batchnorm_relu", "lstm_bidirectional", "maxpool_pad", "reshape_flatten_dense"]


@pytest.mark.parametrize("case", [c for c in SUPPORTED if c.id in SAVED], ids=lambda c: c.id)
def test_keras_file_loads_in_fresh_process(case, tmp_path):
    from convert.exporters.keras import save

    _, x, ref, graph = build(case)
    save(graph, tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, PYTHONPATH="")
    subprocess.run([sys.executable, "-c", _FRESH, str(tmp_path / "m.keras"), str(tmp_path / "x.npy"),
                    str(tmp_path / "y.npy")], check=True, cwd=tmp_path, env=env, timeout=300)
    assert_close(np.load(tmp_path / "y.npy"), ref, case.rtol, case.atol, case.id)
