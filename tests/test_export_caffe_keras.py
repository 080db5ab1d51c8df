"""Whole Keras models -> IR -> Caffe (deploy.prototxt + caffemodel) -> IR -> ONNX, run in
onnxruntime against Keras's own output: a residual block, an encoder-decoder with
skips and a bidirectional LSTM. Keras is channels-last and batch-major; the written
nets use upstream BVLC layers only (no fork Permute), keep the Keras layer names and
still reshape to another batch size. Also through the CLI with --verify."""
from __future__ import annotations

import re

import numpy as np
import pytest

from helpers import assert_close

keras = pytest.importorskip("keras")
L = keras.layers

RTOL, ATOL = 1e-4, 1e-5  # fp32, as everywhere


def _randomise(model):
    """Non-trivial BatchNorm statistics (random weights are Keras's own initialisers)."""
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.3, b.shape),
                               rng.normal(0, 0.3, m.shape), rng.uniform(0.5, 2.0, v.shape)])
    return model


def residual_blocks():
    x = inp = keras.Input((8, 8, 3), name="image")
    x = L.ReLU(name="stem_relu")(L.BatchNormalization(name="stem_bn")(L.Conv2D(8, 3, padding="same", name="stem")(x)))
    y = L.Conv2D(8, 3, padding="same", activation="relu", name="block_conv1")(x)
    y = L.BatchNormalization(name="block_bn")(L.Conv2D(8, 3, padding="same", name="block_conv2")(y))
    x = L.ReLU(name="block_out")(L.Add(name="block_add")([x, y]))
    x = L.MaxPooling2D(2, name="pool")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, L.Dense(4, activation="softmax", name="fc")(x), name="residual_blocks")


def encoder_decoder_skips():
    inp = keras.Input((8, 8, 3), name="image")
    e1 = L.Conv2D(4, 3, padding="same", activation="relu", name="enc1")(inp)
    e2 = L.Conv2D(8, 3, padding="same", activation="relu", name="enc2")(L.MaxPooling2D(2, name="down")(e1))
    up = L.Conv2DTranspose(4, 2, strides=2, name="up")(e2)
    up2 = L.UpSampling2D(2, name="up_nearest")(L.Conv2D(4, 1, name="proj")(e2))
    x = L.Concatenate(name="skip")([up, e1, up2])
    return keras.Model(inp, L.Conv2D(2, 3, padding="same", name="dec")(x), name="encoder_decoder_skips")


def bidirectional_lstm():
    inp = keras.Input((5, 4), name="seq")
    x = L.Bidirectional(L.LSTM(6, return_sequences=True), name="bilstm")(inp)
    x = L.LSTM(5, name="last_state")(x)  # the last hidden state only
    return keras.Model(inp, L.Dense(3, name="head")(x), name="bidirectional_lstm")


def bidirectional_lstm_sequence():
    inp = keras.Input((4, 3), name="seq")
    x = L.Bidirectional(L.LSTM(5, return_sequences=True, go_backwards=False), name="bilstm")(inp)
    return keras.Model(inp, L.Dense(2, name="head")(x), name="bidirectional_lstm_sequence")


MODELS = {"residual_blocks": residual_blocks, "encoder_decoder_skips": encoder_decoder_skips,
          "bidirectional_lstm": bidirectional_lstm, "bidirectional_lstm_sequence": bidirectional_lstm_sequence}


@pytest.fixture(scope="module", params=sorted(MODELS))
def built(request, tmp_path_factory):
    """(keras model, IR graph, folder with deploy.prototxt + deploy.caffemodel)."""
    from convert.exporters.caffe import save, unsupported
    from convert.importers.keras import from_keras
    from convert.api import optimize_graph as optimize

    keras.utils.set_random_seed(0)
    model = _randomise(MODELS[request.param]())
    graph = from_keras(model)
    assert unsupported(graph) == []
    out = tmp_path_factory.mktemp(request.param)
    graph = optimize(graph)  # as the CLI writes it (BatchNorm folded into the convolution before it)
    save(graph, out / "deploy.prototxt")
    return request.param, model, graph, out


@pytest.mark.parametrize("batch", [2, 3])
def test_keras_caffe_onnx_matches_keras(built, batch):
    """Caffe -> IR -> ONNX in onnxruntime equals Keras, at two batch sizes (the net's
    Input is written at batch 1 and reshaped, as Caffe does)."""
    from convert.verification.caffe_runner import graph_for
    from helpers import run_onnx

    name, model, graph, out = built
    x = np.random.default_rng(batch).standard_normal((batch, *model.inputs[0].shape[1:])).astype(np.float32)
    want = np.asarray(model(x, training=False))
    back = graph_for(out / "deploy.prototxt", out / "deploy.caffemodel", {graph.inputs[0].name: x.shape})
    got = run_onnx(back, {back.inputs[0].name: x})
    assert len(got) == 1
    assert_close(next(iter(got.values())), want, RTOL, ATOL, f"{name} batch {batch}")


def test_upstream_layers_and_keras_names(built):
    """No fork layer (Permute), and every Keras layer name left after the optimisation
    passes appears as a Caffe layer name."""
    name, model, graph, out = built
    text = (out / "deploy.prototxt").read_text()
    types = set(re.findall(r'^  type: "(.*)"$', text, re.M))
    assert "Permute" not in types, types
    layers = set(re.findall(r'^  name: "(.*)"$', text, re.M))
    wanted = {n.source.layer_name for n in graph.nodes if n.source and n.source.framework == "keras"}
    assert wanted and not (wanted - layers), sorted(wanted - layers)


def test_lstm_is_a_caffe_lstm(built):
    name, model, graph, out = built
    if "lstm" not in name:
        pytest.skip("no recurrent layer")
    types = re.findall(r'^  type: "(.*)"$', (out / "deploy.prototxt").read_text(), re.M)
    assert types.count("LSTM") == (3 if name == "bidirectional_lstm" else 2), types


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bidirectional_lstm", "encoder_decoder_skips"])
def test_cli_keras_to_caffe_verify(name, tmp_path):
    from click.testing import CliRunner

    from convert.cli.main import main

    keras.utils.set_random_seed(0)
    src = tmp_path / "model.keras"
    _randomise(MODELS[name]()).save(src)
    r = CliRunner().invoke(main, ["convert", str(src), "-o", str(tmp_path / "deploy.prototxt"), "--verify"])
    assert r.exit_code == 0, r.output
    assert {"deploy.prototxt", "deploy.caffemodel"} <= {p.name for p in tmp_path.iterdir()}


def test_unsupported_recurrent_reported_by_name():
    """GRU and SimpleRNN have no exact Caffe form: reported by the Keras layer name."""
    from convert.exporters.caffe import unsupported
    from convert.importers.keras import from_keras

    inp = keras.Input((4, 3))
    x = L.GRU(4, return_sequences=True, name="gru")(inp)
    x = L.SimpleRNN(3, name="rnn")(x)
    problems = unsupported(from_keras(keras.Model(inp, x)))
    assert {(p.layer, p.layer_type) for p in problems} == {("gru", "GRU"), ("rnn", "RNN")}
