"""Legacy ``.h5`` files written by tf.keras 2 itself (sequential, functional with two
inputs and outputs, LSTM/GRU, a MobileNetV2), converted from the file and checked against
the outputs tf-keras recorded (tests/tf_keras_corpus.py, run in its own process) at two
batch sizes, with tolerance ``1e-4 * max(1, max|ref|)``."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from keras_signal import assert_moves, tolerance

pytest.importorskip("tf_keras")
HERE = Path(__file__).resolve().parent
NAMES = ["sequential_cnn", "functional_two_io", "lstm_gru", "mobilenet_v2"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("tf_keras")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run([sys.executable, str(HERE / "tf_keras_corpus.py"), str(d)], check=True, env=env, timeout=600)
    return d


@pytest.mark.parametrize("name", NAMES)
def test_tf_keras_h5_matches_tf_keras(corpus, name):
    from helpers import run_onnx

    import convert

    rec = dict(np.load(corpus / f"{name}.npz"))
    graph = convert.from_keras(corpus / f"{name}.h5")
    assert graph.metadata["keras_version"].startswith("2.")  # really a tf.keras 2 file
    for batch in (1, 3):
        feeds = {v.name: rec[f"x{batch}_{i}"] for i, v in enumerate(graph.inputs)}
        got = run_onnx(graph, feeds)
        for j, v in enumerate(graph.outputs):
            want = rec[f"y{batch}_{j}"]
            np.testing.assert_allclose(got[v.name], want, rtol=0, atol=tolerance(want), err_msg=f"{name} {v.name}")
    assert_moves(rec["y1_0"], rec["other"], f"{name}: another input")
    assert_moves(rec["y1_0"], rec["scaled"], f"{name}: a 1% change to a middle kernel")


@pytest.mark.parametrize("how,ext", [("registered", "h5"), ("registered", "keras"), ("unregistered", "keras")])
def test_a_users_dense_subclass_is_refused(corpus, how, ext):
    """tf-keras writes a user's class named ``Dense`` as ``user>Dense`` in a legacy ``.h5``
    and with module None and a registered name in a ``.keras``: refused by layer name,
    never imported as the built-in (which would convert silently wrong)."""
    import convert
    from convert.errors import UnsupportedError

    with pytest.raises(UnsupportedError) as e:
        convert.from_keras(corpus / f"user_dense_{how}.{ext}")
    assert "d (" in str(e.value) and "custom layer class" in str(e.value), str(e.value)


def test_an_unregistered_subclass_in_h5_is_indistinguishable_from_the_builtin(corpus):
    """The one case the file cannot tell: an unregistered subclass named ``Dense`` writes the
    very config of the built-in into a legacy ``.h5`` (tf-keras itself reloads it as the
    built-in). If tf-keras ever records the difference, the importer must use it."""
    import h5py
    import json

    def layers(path):
        with h5py.File(path, "r") as f:
            return [{k: v for k, v in lc.items() if k != "inbound_nodes"}
                    for lc in json.loads(f.attrs["model_config"])["config"]["layers"][1:]]

    assert layers(corpus / "user_dense_unregistered.h5") == layers(corpus / "builtin_dense.h5")
    import convert

    assert [n.op for n in convert.from_keras(corpus / "builtin_dense.keras").nodes] == ["Gemm"]
