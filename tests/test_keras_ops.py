"""Keras 3 operation nodes (``x + 3.0``, ``ops.mean``, ``ops.matmul`` with a constant, ...):
imported with their constant operands, checked against Keras, and visible to
``verify --per-layer``, which names a corrupted layer behind them."""
from __future__ import annotations

import numpy as np
import pytest

from keras_cases import keras
from keras_signal import assert_moves, give_signal, scaled_kernel_output, tolerance
from verify_checks import corrupt

SHAPE = (9, 11, 5)  # every axis differs


def _ops_model():
    k = keras()
    ops = k.ops
    x = k.Input(SHAPE, name="x")
    y = k.layers.Conv2D(8, 3, padding="same", name="conv_a")(x)
    y = k.layers.BatchNormalization(name="bn_a")(y)
    h = k.layers.ReLU(6.0, name="relu6")(y + 3.0) * (1.0 / 6.0)  # Keras' own hard-sigmoid spelling
    y = k.layers.Multiply(name="gate")([y, h])
    y = k.layers.Conv2D(6, 3, strides=2, padding="same", name="conv_b")(y)
    y = y - ops.mean(y, axis=[1, 2], keepdims=True)
    y = 2.0 - ops.abs(y) / 3.0
    t = ops.reshape(ops.transpose(y, (0, 3, 1, 2)), (-1, 6, 30))
    m = ops.matmul(t, np.linspace(-1, 1, 30 * 4, dtype="float32").reshape(30, 4))
    e = ops.squeeze(ops.expand_dims(ops.sum(m, axis=-1), 1), axis=1)
    logits = k.layers.Dense(5, name="fc")(ops.maximum(e, -1.0))
    side = ops.sigmoid(ops.max(y, axis=-1)) * ops.exp(ops.negative(ops.sqrt(ops.mean(ops.power(y, 2.0)))))
    return k.Model(x, [logits, side])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    k = keras()
    k.utils.set_random_seed(0)
    model = _ops_model()
    rng = np.random.default_rng(0)
    give_signal(model, rng.standard_normal((8, *SHAPE)).astype("float32"))
    d = tmp_path_factory.mktemp("ops")
    model.save(d / "m.keras")
    return model, d


def _inputs(batch, seed=1):
    return np.random.default_rng(seed).standard_normal((batch, *SHAPE)).astype("float32")


@pytest.mark.parametrize("batch", [1, 3])
def test_operation_nodes_match_keras(saved, batch):
    from helpers import run_onnx

    import convert

    model, d = saved
    graph = convert.from_keras(d / "m.keras")
    types = {n.source.layer_type for n in graph.nodes if n.source}
    assert {"ops.Add", "ops.Multiply", "ops.Matmul", "ops.Reshape", "ops.Transpose", "ops.Mean"} <= types
    x = _inputs(batch)
    got = run_onnx(graph, {graph.inputs[0].name: x})
    want = [np.asarray(o) for o in model(x, training=False)]
    for v, w in zip(graph.outputs, want):
        np.testing.assert_allclose(got[v.name], w, rtol=0, atol=tolerance(w), err_msg=v.name)
    assert_moves(want[0], np.asarray(model(_inputs(batch, seed=2), training=False)[0]), "another input")
    assert_moves(want[0], scaled_kernel_output(model, x), "a 1% change to a middle kernel")


def test_per_layer_names_a_corrupted_layer_behind_operation_nodes(saved, tmp_path):
    from convert.api import export, verify
    import convert

    _, d = saved
    export(convert.from_keras(d / "m.keras"), tmp_path / "m.onnx")
    good = verify(str(d / "m.keras"), str(tmp_path / "m.onnx"), per_layer=True)
    assert good.ok and good.first_divergence is None
    assert any(r.layer_type.startswith("ops.") for r in good.layers)  # operation nodes are compared too
    corrupt(tmp_path / "m.onnx", tmp_path / "bad.onnx", "conv_b/kernel", delta=0.3)
    bad = verify(str(d / "m.keras"), str(tmp_path / "bad.onnx"), per_layer=True)
    assert not bad.ok
    f = bad.first_divergence
    assert f is not None and f.layer == "conv_b", (f, [(r.layer, r.ok) for r in bad.layers])
    assert all(r.ok for r in bad.layers[:f.index])


def test_unknown_operation_is_listed_not_guessed(tmp_path):
    import convert
    from convert.errors import UnsupportedError

    k = keras()
    x = k.Input((4,), name="x")
    model = k.Model(x, k.layers.Dense(3, name="fc")(k.ops.cumsum(x, axis=-1)))
    model.save(tmp_path / "c.keras")
    with pytest.raises(UnsupportedError) as e:
        convert.from_keras(tmp_path / "c.keras")
    assert "Cumsum" in str(e.value) and "no converter for this Keras operation" in str(e.value)
