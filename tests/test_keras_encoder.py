"""A Keras transformer encoder (token + position embeddings, padding mask from the ids,
MultiHeadAttention, LayerNormalization, GELU MLP, masked mean pooling) saved as .keras with
a dynamic batch and sequence length, converted to Keras, ONNX, torch and LiteRT and compared with
Keras at two batch sizes and two lengths."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_close, run_onnx
from keras_cases import keras, randomize

pytest.importorskip("keras")
K = keras()
L = K.layers
VOCAB, DIM, MAX_LEN = 20, 16, 12
RTOL, ATOL = 1e-4, 1e-4  # fp32; logits of order 1 after two LayerNorms


def _encoder():
    ids = K.Input((None,), dtype="int32", name="ids")
    pos = K.Input((None,), dtype="int32", name="pos")
    pad = K.ops.not_equal(ids, 0)  # (B, S): True at real tokens
    x = L.Embedding(VOCAB, DIM, mask_zero=True, name="tokens")(ids) + L.Embedding(MAX_LEN, DIM, name="positions")(pos)
    a = L.MultiHeadAttention(4, 4, name="mha")(x, x, attention_mask=K.ops.expand_dims(pad, 1))
    x = L.LayerNormalization(epsilon=1e-5, name="ln1")(x + a)
    h = L.Dense(2 * DIM, activation="gelu", name="mlp_in")(x)
    x = L.LayerNormalization(epsilon=1e-5, name="ln2")(x + L.Dense(DIM, name="mlp_out")(h))
    pooled = L.GlobalAveragePooling1D(name="pool")(x, mask=pad)
    return K.Model([ids, pos], L.Dense(5, name="logits")(pooled))


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    from convert.importers.keras import load

    K.utils.set_random_seed(0)
    model = _encoder()
    randomize(model)
    path = tmp_path_factory.mktemp("encoder") / "encoder.keras"
    model.save(path)
    graph = load(str(path)).graph
    assert {"Attention", "LayerNormalization", "Gelu"} <= {n.op for n in graph.nodes}
    return model, graph


def _batch(batch: int, steps: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, VOCAB, (batch, steps)).astype("int32")
    for row in range(batch):  # padding of a different length per row; row 0 unpadded
        ids[row, steps - row:] = 0
    pos = np.broadcast_to(np.arange(steps, dtype="int32"), (batch, steps)).copy()
    return {"ids": ids, "pos": pos}


SIZES = [(2, 6), (3, 9)]


def _want(model, feeds):
    return np.asarray(model([feeds["ids"], feeds["pos"]], training=False))


def test_encoder_to_keras(encoder, tmp_path):
    from convert.exporters.keras import save

    model, graph = encoder
    save(graph, tmp_path / "out.keras")  # keras.ops nodes are stored by name: no code in the file
    km = K.saving.load_model(tmp_path / "out.keras", safe_mode=True)
    assert all(type(layer).__name__ != "Lambda" for layer in km.layers)
    for batch, steps in SIZES:
        feeds = _batch(batch, steps, seed=steps)
        got = np.asarray(km([feeds[v.name] for v in graph.inputs], training=False))
        assert_close(got, _want(model, feeds), RTOL, ATOL, f"batch {batch} steps {steps}")


def test_encoder_keras_output_reimports(encoder, tmp_path):
    """The written .keras (layers and keras.ops nodes) reads back into the IR and matches."""
    from convert.exporters.keras import save, to_keras
    from convert.importers.keras import load

    model, graph = encoder
    save(graph, tmp_path / "out.keras")
    again = load(str(tmp_path / "out.keras")).graph
    assert "Attention" in {n.op for n in again.nodes}
    km = to_keras(again)
    feeds = _batch(3, 9, seed=9)
    got = np.asarray(km([feeds[v.name] for v in again.inputs], training=False))
    assert_close(got, _want(model, feeds), RTOL, ATOL, "re-imported")


def test_encoder_weights_and_padding_carry_signal(encoder):
    model, _ = encoder
    feeds = _batch(2, 6, seed=6)
    base = _want(model, feeds)
    changed = dict(feeds, ids=feeds["ids"].copy())
    changed["ids"][0, 0] = (changed["ids"][0, 0] % (VOCAB - 1)) + 1
    assert np.abs(_want(model, changed) - base).max() > 100 * ATOL
    unmasked = dict(feeds, ids=np.where(feeds["ids"] == 0, 3, feeds["ids"]))  # padding becomes tokens
    assert np.abs(_want(model, unmasked) - base)[1].max() > 100 * ATOL
    w = model.get_layer("mha").weights[2]
    old = np.asarray(w)
    w.assign(old * 1.01)
    try:
        assert np.abs(_want(model, feeds) - base).max() > 10 * ATOL
    finally:
        w.assign(old)


def _needs(registry, target: str):
    """The target's exporter claims Attention (the support matrix says so too)."""
    assert "Attention" in registry, f"the {target} exporter does not claim Attention"


def test_encoder_to_onnx(encoder):
    from convert.exporters.onnx import ONNX_HANDLERS

    _needs(ONNX_HANDLERS, "ONNX")
    model, graph = encoder
    for batch, steps in SIZES:
        feeds = _batch(batch, steps, seed=steps)
        got = run_onnx(graph, {v.name: feeds[v.name] for v in graph.inputs}, opset=23)[graph.outputs[0].name]
        assert_close(got, _want(model, feeds), RTOL, ATOL, f"batch {batch} steps {steps}")


def test_encoder_to_torch(encoder):
    import torch

    from convert.exporters.torch import TORCH_HANDLERS, to_torch, unsupported

    _needs(TORCH_HANDLERS, "torch")
    model, graph = encoder
    assert unsupported(graph) == []
    module = to_torch(graph)
    for batch, steps in SIZES:
        feeds = _batch(batch, steps, seed=steps)
        got = module(*[torch.from_numpy(feeds[v.name]) for v in graph.inputs]).detach().numpy()
        assert_close(got, _want(model, feeds), RTOL, ATOL, f"batch {batch} steps {steps}")


def test_encoder_to_tflite(encoder, tmp_path):
    """One .tflite file, run in LiteRT's interpreter at two batches and two lengths."""
    pytest.importorskip("ai_edge_litert")
    from convert.exporters.tflite import save
    from convert.exporters.tflite.runner import LiteRTModel

    model, graph = encoder
    path = tmp_path / "encoder.tflite"
    save(graph, path)
    lite = LiteRTModel(path, ([v.name for v in graph.inputs], [v.name for v in graph.outputs]))
    for batch, steps in SIZES:
        feeds = _batch(batch, steps, seed=steps)
        got = lite.run({v.name: feeds[v.name] for v in graph.inputs})[graph.outputs[0].name]
        assert_close(got, _want(model, feeds), RTOL, ATOL, f"batch {batch} steps {steps}")
