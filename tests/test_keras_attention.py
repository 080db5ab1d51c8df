"""Keras attention, group/layer normalisation on any axes and Keras' implicit masks: each
saved model is imported, exported to Keras (built-in layers and keras.ops nodes) and to
ONNX (when that exporter handles every op), and compared with the SOURCE Keras model."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_close, run_onnx
from keras_cases import keras, keras_outputs, randomize

pytest.importorskip("keras")
K = keras()
L = K.layers
RTOL, ATOL = 1e-4, 1e-5


def _inp(shape, name, dtype="float32"):
    return K.Input(shape, name=name, dtype=dtype)


def _mha_self(**kw):
    x = _inp((None, 8), "x")
    return K.Model(x, L.MultiHeadAttention(2, 3, **kw)(x, x))


def _mha_causal():
    x = _inp((None, 8), "x")
    return K.Model(x, L.MultiHeadAttention(2, 4, value_dim=3)(x, x, use_causal_mask=True))


def _mha_cross():
    q, v, k = _inp((5, 8), "q"), _inp((7, 6), "v"), _inp((7, 4), "k")
    return K.Model([q, v, k], L.MultiHeadAttention(3, 2, value_dim=5, output_shape=7)(q, v, key=k))


def _mha_attention_mask():
    q, v, m = _inp((5, 8), "q"), _inp((7, 8), "v"), _inp((5, 7), "m", "bool")
    return K.Model([q, v, m], L.MultiHeadAttention(2, 3)(q, v, attention_mask=m))


def _mha_padding_mask():
    ids = _inp((None,), "ids", "int32")
    h = L.LayerNormalization()(L.Embedding(12, 8, mask_zero=True)(ids))
    return K.Model(ids, L.MultiHeadAttention(2, 4)(h, h, use_causal_mask=True))


def _attention(use_scale, causal=False):
    q, v = _inp((5, 8), "q"), _inp((5, 6), "v")
    return K.Model([q, v], L.Attention(use_scale=use_scale)([q, L.Dense(8)(v)], use_causal_mask=causal))


def _attention_masked():
    ids, vids = _inp((None,), "ids", "int32"), _inp((None,), "vids", "int32")
    q, v = L.Embedding(12, 6, mask_zero=True)(ids), L.Embedding(12, 6, mask_zero=True)(vids)
    return K.Model([ids, vids], L.Attention()([q, v]))


def _seq(shape, *layers):
    x = y = _inp(shape, "x")
    for layer in layers:
        y = layer(y)
    return K.Model(x, y)


def _masked_pool():
    ids = _inp((None,), "ids", "int32")
    h = L.Dense(5, activation="gelu")(L.Embedding(12, 6, mask_zero=True)(ids))
    return K.Model(ids, L.GlobalAveragePooling1D()(h))


def _masking_pool():
    return _seq((6, 3), L.Masking(0.0), L.Dense(4), L.GlobalAveragePooling1D())


CASES = {
    "mha_self": lambda: _mha_self(),
    "mha_self_no_bias": lambda: _mha_self(use_bias=False, value_dim=5),
    "mha_causal_value_dim": _mha_causal,
    "mha_cross_key_output_shape": _mha_cross,
    "mha_attention_mask": _mha_attention_mask,
    "mha_padding_and_causal_mask": _mha_padding_mask,
    "attention_dot": lambda: _attention(False),
    "attention_scaled_causal": lambda: _attention(True, True),
    "attention_masked_query_value": _attention_masked,
    "groupnorm_sequence": lambda: _seq((5, 8), L.GroupNormalization(4)),
    "groupnorm_image_no_center": lambda: _seq((4, 5, 6), L.Conv2D(6, 1), L.GroupNormalization(3, center=False)),
    "groupnorm_axis1": lambda: _seq((6, 5), L.GroupNormalization(2, axis=1)),
    "layernorm_axis1": lambda: _seq((5, 6), L.LayerNormalization(axis=1)),
    "layernorm_axes_1_2_of_4d": lambda: _seq((3, 4, 5), L.LayerNormalization(axis=[1, 2])),
    "layernorm_no_scale_center": lambda: _seq((5, 6), L.Dense(6), L.LayerNormalization(center=False, scale=False)),
    "embedding_mask_pooling": _masked_pool,
    "masking_pooling": _masking_pool,
    "masking_conv1d_drops_mask": lambda: _seq((6, 3), L.Masking(0.0), L.Conv1D(4, 2), L.GlobalAveragePooling1D()),
}


def _inputs(model, steps, batch: int, seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for t in model.inputs:
        shape = [batch] + [steps if d is None else d for d in t.shape[1:]]
        dt = str(t.dtype)
        if "int" in dt:
            ids = rng.integers(1, 12, shape)
            for row in range(batch):  # trailing padding of a different length in each row
                ids[row, shape[1] // 2 + row % 3:] = 0
            ids[:, 0] = rng.integers(1, 12, batch)  # never a fully padded row
            out.append(ids.astype(dt))
        elif dt == "bool":
            m = rng.random(shape) < 0.7
            m[..., 0] = True
            out.append(m)
        else:
            x = rng.standard_normal(shape).astype("float32")
            if any(isinstance(layer, L.Masking) for layer in model.layers):
                x[1:, -2:] = 0.0  # padded steps (Masking's mask_value) in all rows but the first
            out.append(x)
    return out


def _perturb_middle(model) -> None:
    ws = [w for w in model.weights if w.dtype == "float32" and np.asarray(w).size > 1]
    w = ws[len(ws) // 2]
    w.assign(np.asarray(w) * 1.01)


def _converted(case, tmp_path_factory):
    from convert.importers.keras import load

    K.utils.set_random_seed(0)
    model = CASES[case]()
    randomize(model)
    path = tmp_path_factory.mktemp(case) / "m.keras"
    model.save(path)
    return model, load(str(path)).graph


def _feed(graph, model, xs):
    names = [t._keras_history[0].name for t in model.inputs]
    return [xs[names.index(v.name)] for v in graph.inputs]


def _run_keras(graph, model, xs):
    from convert.exporters.keras import to_keras

    km = to_keras(graph)
    for layer in km.layers:
        assert type(layer).__module__.startswith("keras.") and type(layer).__name__ != "Lambda", layer
    feed = _feed(graph, model, xs)
    out = km(feed if len(feed) > 1 else feed[0], training=False)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


@pytest.mark.parametrize("case", sorted(CASES))
def test_keras_import_to_keras_matches_source(case, tmp_path_factory):
    model, graph = _converted(case, tmp_path_factory)
    for batch, n in ((2, 6), (3, 9)):  # two batch sizes and, where the model has it, two lengths
        xs = _inputs(model, n, batch, seed=batch)
        want = keras_outputs(model, xs)
        got = _run_keras(graph, model, xs)
        for g, w in zip(got, want):
            assert_close(g, w, RTOL, ATOL, f"{case} batch {batch} steps {n}")
    # Signal: another input, and a 1% change to a middle weight, move the output far past tolerance.
    xs = _inputs(model, 6, 2, seed=2)
    base = keras_outputs(model, xs)[0]
    other = keras_outputs(model, _inputs(model, 6, 2, seed=9))[0]
    assert np.abs(other - base).max() > 100 * ATOL
    _perturb_middle(model)
    assert np.abs(keras_outputs(model, xs)[0] - base).max() > 100 * ATOL


def _onnx_gap(graph, opset: int) -> str | None:
    """Why the ONNX target cannot run this graph."""
    from convert.exporters.onnx import unsupported_ops

    gaps = unsupported_ops(graph, opset)
    return f"not exportable to ONNX: {gaps}" if gaps else None


@pytest.mark.parametrize("opset", [17, 23])
@pytest.mark.parametrize("case", sorted(CASES))
def test_keras_import_to_onnx_matches_source(case, opset, tmp_path_factory):
    model, graph = _converted(case, tmp_path_factory)
    why = _onnx_gap(graph, opset)
    if why:
        pytest.skip(why)
    xs = _inputs(model, 6, 2, seed=3)
    got = run_onnx(graph, {v.name: x for v, x in zip(graph.inputs, _feed(graph, model, xs))}, opset=opset)
    for v, w in zip(graph.outputs, keras_outputs(model, xs)):
        assert_close(got[v.name], w, RTOL, ATOL, case)


def _refused(model, tmp_path, layer_type: str) -> None:
    from convert.errors import UnsupportedError
    from convert.importers.keras import load

    path = tmp_path / "m.keras"
    model.save(path)
    with pytest.raises(UnsupportedError) as e:
        load(str(path))
    assert any(p.layer_type == layer_type and p.attribute == "mask" for p in e.value.items), e.value.items


def test_mask_reaching_an_rnn_is_refused_by_name(tmp_path):
    ids = _inp((None,), "ids", "int32")
    _refused(K.Model(ids, L.LSTM(3)(L.Embedding(12, 4, mask_zero=True)(ids))), tmp_path, "LSTM")


def test_mask_reaching_a_gru_after_masking_is_refused_by_name(tmp_path):
    _refused(_seq((6, 3), L.Masking(0.0), L.Dense(4), L.GRU(2)), tmp_path, "GRU")


def test_mask_dropped_by_add_as_keras_does(tmp_path_factory):
    """Keras 3 merges drop the mask: the attention after token + position embeddings is unmasked."""
    ids, pos = _inp((None,), "ids", "int32"), _inp((None,), "pos", "int32")
    h = L.Add()([L.Embedding(12, 8, mask_zero=True)(ids), L.Embedding(12, 8)(pos)])
    model = K.Model([ids, pos], L.MultiHeadAttention(2, 4)(h, h))
    randomize(model)
    path = tmp_path_factory.mktemp("add") / "m.keras"
    model.save(path)
    from convert.importers.keras import load

    graph = load(str(path)).graph
    assert "And" not in {n.op for n in graph.nodes} and all(len(n.inputs) == 3 for n in graph.nodes
                                                           if n.op == "Attention")
    xs = _inputs(model, 6, 2, seed=4)
    assert_close(_run_keras(graph, model, xs)[0], keras_outputs(model, xs)[0], RTOL, ATOL, "add drops mask")
