"""Whole Keras models, model structure (functional, nested, shared), the file-only
(no TensorFlow) guarantee, LoadedModel runners and bad-input errors."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from helpers import assert_close
from keras_cases import check, keras, make_inputs, randomize, seq_model

pytest.importorskip("keras")
L = keras().layers


def multi_io_shared():
    k = keras()
    a, b = k.Input((6,), name="a"), k.Input((6,), name="b")
    shared = L.Dense(5, activation="relu", name="shared")
    ha, hb = shared(a), shared(b)
    s = L.Add(name="sum")([ha, hb])
    return k.Model([a, b], [L.Dense(2, name="head1")(s), L.Concatenate(name="head2")([ha, hb])])


def nested():
    k = keras()
    inner_in = k.Input((6, 6, 3))
    inner = k.Model(inner_in, L.Conv2D(4, 3, padding="same", activation="relu")(inner_in), name="inner_functional")
    head = k.Sequential([k.Input((4,)), L.Dense(3), L.Activation("softmax")], name="inner_sequential")
    x = k.Input((6, 6, 3), name="img")
    y = inner(x)
    y = L.GlobalAveragePooling2D()(y)
    return k.Model(x, head(y))


def shared_submodel():
    k = keras()
    i = k.Input((5,))
    tower = k.Model(i, L.Dense(4, activation="tanh")(L.Dense(4)(i)), name="tower")
    a, b = k.Input((5,), name="left"), k.Input((5,), name="right")
    return k.Model([a, b], L.Subtract()([tower(a), tower(b)]))


def sequential_cnn():
    k = keras()
    return k.Sequential([k.Input((8, 8, 3)), L.Conv2D(4, 3, padding="same"), L.BatchNormalization(), L.ReLU(),
                         L.MaxPooling2D(), L.Flatten(), L.Dense(5), L.Softmax()])


def text_model():
    k = keras()
    ids = k.Input((7,), dtype="int32", name="tokens")
    x = L.Embedding(50, 8)(ids)
    x = L.Bidirectional(L.LSTM(6, return_sequences=True))(x)
    x = L.GRU(5)(x)
    return k.Model(ids, L.Dense(3, activation="softmax")(x))


def residual_block():
    k = keras()
    x = inp = k.Input((8, 8, 4), name="img")
    y = L.Conv2D(4, 3, padding="same")(x)
    y = L.BatchNormalization()(y)
    y = L.Activation("relu")(y)
    y = L.Add()([x, y])
    z = L.Concatenate()([y, L.Conv2D(2, 1)(x)])
    return k.Model(inp, [z, L.GlobalAveragePooling2D()(z)])


def inputs_used_out_of_order():
    """``model.inputs`` order differs from the order the layers first use them."""
    k = keras()
    a, b = k.Input((4,), name="a"), k.Input((3,), name="b")
    hb = L.Dense(4, name="from_b")(b)
    return k.Model([a, b], L.Dense(2, name="head")(L.Concatenate()([hb, a])))


MODELS = {"multi_io_shared": multi_io_shared, "inputs_used_out_of_order": inputs_used_out_of_order, "nested": nested, "shared_submodel": shared_submodel,
          "sequential_cnn": sequential_cnn, "text_model": text_model, "residual_block": residual_block}


@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_structure(name, fmt, tmp_path):
    from convert.importers.keras import load

    model = MODELS[name]()
    randomize(model)
    path = tmp_path / f"m.{fmt}"
    model.save(path)
    lm = load(str(path))
    xs = make_inputs(model)
    check(lm.graph, model, xs)
    # The LoadedModel runner is Keras itself, keyed by the graph's names.
    ran = lm.run({v.name: x for v, x in zip(lm.graph.inputs, xs)})
    assert list(ran) == [v.name for v in lm.graph.outputs]


def test_names_and_symbolic_dims(tmp_path):
    from convert.importers.keras import load

    model = multi_io_shared()
    model.save(tmp_path / "m.keras")
    g = load(str(tmp_path / "m.keras")).graph
    assert [v.name for v in g.inputs] == ["a", "b"]
    assert [v.name for v in g.outputs] == ["head1", "head2"]
    assert g.inputs[0].shape == ("batch", 6)
    # the shared Dense weights are stored once
    assert sum(1 for w in g.weights if w.startswith("shared/kernel")) == 1


def test_inputs_keep_the_model_order(tmp_path):
    from convert.importers.keras import load

    inputs_used_out_of_order().save(tmp_path / "m.keras")
    assert [v.name for v in load(str(tmp_path / "m.keras")).graph.inputs] == ["a", "b"]


def test_io_layout_nchw_and_no_cancelling_transposes(tmp_path):
    from convert.importers.keras import load
    from convert.api import optimize_graph as optimize

    model = residual_block()
    randomize(model)
    model.save(tmp_path / "m.keras")
    lm = load(str(tmp_path / "m.keras"), io_layout="nchw")
    assert lm.graph.inputs[0].shape == ("batch", 4, 8, 8)
    check(lm.graph, model, make_inputs(model), io_layout="nchw")
    assert not any(n.op == "Transpose" for n in optimize(lm.graph).nodes)
    # nhwc: one transpose in, one per image output
    g = load(str(tmp_path / "m.keras")).graph
    assert sum(n.op == "Transpose" for n in g.nodes) == 2


def test_run_layers_maps_intermediate_values(tmp_path):
    from convert.importers.keras import load

    model = sequential_cnn()
    randomize(model)
    model.save(tmp_path / "m.keras")
    lm = load(str(tmp_path / "m.keras"))
    xs = make_inputs(model)
    feeds = {lm.graph.inputs[0].name: xs[0]}
    names = [n.outputs[0] for n in lm.graph.nodes if n.op in ("Conv", "MaxPool", "Flatten")]
    layers = lm.run_layers(feeds, names)
    assert set(layers) == set(names)
    from convert.exporters.onnx import to_onnx
    import onnxruntime as ort

    g = lm.graph.copy()
    from convert.ir.graph import Value

    g.outputs = [Value(n) for n in names]
    sess = ort.InferenceSession(to_onnx(g).SerializeToString(), providers=["CPUExecutionProvider"])
    for n, got in zip(names, sess.run(names, feeds)):
        assert_close(got, layers[n], what=n)


def test_file_conversion_imports_no_tensorflow(tmp_path):
    model = text_model()
    model.save(tmp_path / "m.keras")
    sequential_cnn().save(tmp_path / "c.h5")
    code = (
        "import sys; from convert.importers.keras import load; from convert.exporters.onnx import to_onnx\n"
        f"for p in [{str(tmp_path / 'm.keras')!r}, {str(tmp_path / 'c.h5')!r}]:\n"
        "    to_onnx(load(p).graph)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras', 'torch')]\n"
        "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[1]))


# -- whole applications (random init, no download) ----------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("app", ["ResNet50", "MobileNetV2"])
def test_keras_application(app, fmt, tmp_path):
    """Through the CLI: `convert --verify` runs Keras and onnxruntime at two batch sizes;
    the written file is then compared with Keras once more here."""
    import json

    import onnxruntime as ort
    from click.testing import CliRunner

    from convert.cli.main import main

    k = keras()
    model = getattr(k.applications, app)(weights=None, input_shape=(64, 64, 3), classes=10)
    path = tmp_path / f"m.{fmt}"
    model.save(path)
    out, report = tmp_path / "m.onnx", tmp_path / "r.json"
    r = CliRunner().invoke(main, ["convert", str(path), "-o", str(out), "--verify", "--report", str(report)])
    assert r.exit_code == 0, r.output
    rep = json.loads(report.read_text())
    assert rep["verdict"] == "pass" and len(rep["runs"]) == 2
    x = np.random.default_rng(0).standard_normal((1, 64, 64, 3)).astype("float32")
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {sess.get_inputs()[0].name: x})
    want = np.asarray(model(x, training=False))
    # softmax outputs of a 50-layer random network: atol 1e-5 on probabilities
    assert_close(got, want, rtol=1e-4, atol=1e-5, what=app)


# -- bad input -----------------------------------------------------------------------------


def test_lambda_and_custom_layer_listed_together(tmp_path):
    from convert.errors import UnsupportedError
    from convert.importers.keras import load

    k = keras()

    @k.saving.register_keras_serializable(package="tests")
    class Doubler(k.layers.Layer):
        def call(self, x):
            return x * 2

    x = k.Input((4,), name="x")
    y = L.Lambda(lambda t: t + 1, name="plus_one")(x)
    y = Doubler(name="doubler")(y)
    y = L.Dense(2, name="ok")(y)
    z = L.Dense(3, activation=None, name="fine")(x)
    z = L.EinsumDense("ab,bc->ac", output_shape=3, name="einsum")(z)
    k.Model(x, [y, z]).save(tmp_path / "m.keras")
    out = tmp_path / "never.onnx"
    with pytest.raises(UnsupportedError) as e:
        load(str(tmp_path / "m.keras"))
    text = str(e.value)
    assert "plus_one (Lambda)" in text and "doubler (Doubler)" in text and "einsum (EinsumDense)" in text
    assert not out.exists()


def _saved(tmp_path):
    m = seq_model((4,), L.Dense(3))
    m.save(tmp_path / "m.keras")
    return tmp_path / "m.keras"


def test_truncated_archive(tmp_path):
    from convert.errors import ModelLoadError
    from convert.importers.keras import load

    p = _saved(tmp_path)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="corrupted or truncated"):
        load(str(p))


def test_random_bytes(tmp_path):
    from convert.errors import ModelLoadError
    from convert.importers.keras import load

    p = tmp_path / "junk.keras"
    p.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelLoadError, match="not a Keras file"):
        load(str(p))


def _rewrite(p, fn_name, fn):
    src = zipfile.ZipFile(p)
    items = {n: src.read(n) for n in src.namelist()}
    src.close()
    items[fn_name] = fn(items[fn_name])
    with zipfile.ZipFile(p, "w") as dst:
        for n, d in items.items():
            dst.writestr(n, d)


def test_weights_config_mismatch(tmp_path):
    from convert.errors import ModelLoadError
    from convert.importers.keras import load

    p = _saved(tmp_path)

    def widen(raw):
        cfg = json.loads(raw)
        for layer in cfg["config"]["layers"]:
            if layer["class_name"] == "Dense":
                layer["config"]["units"] = 7
        return json.dumps(cfg).encode()

    _rewrite(p, "config.json", widen)
    with pytest.raises(ModelLoadError, match="do not match its config"):
        load(str(p))


def test_unknown_keras_version(tmp_path):
    from convert.errors import ModelLoadError
    from convert.importers.keras import load

    p = _saved(tmp_path)
    _rewrite(p, "metadata.json", lambda raw: json.dumps({**json.loads(raw), "keras_version": "9.0.0"}).encode())
    with pytest.raises(ModelLoadError, match="unknown Keras version '9.0.0'"):
        load(str(p))
