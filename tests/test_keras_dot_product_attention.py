"""``keras.ops.dot_product_attention`` operation nodes with masks that leave some query
rows no key at all: Keras replaces masked scores by one large negative number, so such a
row weighs every key equally (the mean of the values) where a -inf mask would give 0 or
NaN. Compared with Keras itself, at two batch sizes, through both ONNX forms of the
attention (decomposed at opset 17, ONNX's Attention at 23): a padding mask with a row
per query, a key-padding mask with the causal triangle (the first queries see only
padded keys), and an explicit scale."""
from __future__ import annotations

import numpy as np
import pytest

from keras_cases import keras
from keras_signal import assert_moves, give_signal, scaled_kernel_output, tolerance

T, S, E, H, D = 5, 6, 7, 2, 4  # query steps, key steps, features, heads, head size: all differ


def _model():
    k = keras()
    L, ops = k.layers, k.ops
    x, y = k.Input((T, E), name="x"), k.Input((S, E), name="y")
    m = k.Input((1, T, S), name="m", dtype="bool")
    kp = k.Input((1, 1, S), name="kp", dtype="bool")

    def heads(t, steps, name):
        return L.Reshape((steps, H, D), name=f"{name}_heads")(L.Dense(H * D, name=name)(t))

    q, qs, kk, v = heads(x, T, "q"), heads(y, S, "qs"), heads(y, S, "k"), heads(y, S, "v")
    padded = ops.dot_product_attention(q, kk, v, mask=m)
    causal = ops.dot_product_attention(qs, kk, v, mask=kp, is_causal=True)
    scaled = ops.dot_product_attention(qs, kk, v, mask=kp, scale=0.3)
    return k.Model([x, y, m, kp], [padded, causal, scaled])


def _inputs(batch: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, T, E)).astype("float32")
    y = rng.standard_normal((batch, S, E)).astype("float32")
    m = rng.random((batch, 1, T, S)) > 0.4
    m[0, 0, 1] = False  # query row 1 of sample 0 sees no key
    m[-1, 0, 3] = False
    kp = np.ones((batch, 1, 1, S), bool)
    kp[0, ..., :3] = False  # the first three keys are padding: causal rows 0-2 see none
    kp[-1, ..., 4:] = False
    return [x, y, m, kp]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    import convert

    k = keras()
    k.utils.set_random_seed(0)
    model = _model()
    give_signal(model, _inputs(8, 0))
    path = tmp_path_factory.mktemp("dpa") / "m.keras"
    model.save(path)
    return model, convert.from_keras(path)


@pytest.mark.parametrize("opset", [17, 23])
@pytest.mark.parametrize("batch", [1, 3])
def test_wholly_masked_rows_match_keras(saved, batch, opset):
    from helpers import run_onnx

    model, graph = saved
    xs = _inputs(batch, seed=batch)
    want = [np.asarray(o) for o in model(xs, training=False)]
    got = run_onnx(graph, {v.name: a for v, a in zip(graph.inputs, xs)}, opset=opset)
    for v, w in zip(graph.outputs, want):
        np.testing.assert_allclose(got[v.name], w, rtol=0, atol=tolerance(w), err_msg=v.name)
    # the rows in question really are the mean of the values, far from the 0 of a -inf mask
    values = _values(model, xs)  # (B, S, H, D)
    assert np.allclose(want[0][0, 1], values[0].mean(0), atol=1e-5)
    assert np.allclose(want[1][0, :3], values[0].mean(0), atol=1e-5)
    assert np.abs(values[0].mean(0)).max() > 20 * tolerance(want[0])
    assert_moves(want[1], np.asarray(model(_inputs(batch, seed=7), training=False)[1]), "another input")


def _values(model, xs):
    k = keras()
    sub = k.Model(model.inputs, model.get_layer("v_heads").output)
    return np.asarray(sub(xs, training=False))


def test_a_middle_weight_moves_the_output(saved):
    model, _ = saved
    xs = _inputs(3, seed=3)
    want = np.asarray(model(xs, training=False)[0])
    assert_moves(want, scaled_kernel_output(model, xs), "a 1% change to a middle kernel")
