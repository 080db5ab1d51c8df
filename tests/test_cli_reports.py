"""Reports a pipeline can act on: `check` lists importer and exporter gaps together,
verification names the model's inputs and a layout mismatch, repro files keep whole
layer names."""
import numpy as np
import pytest
from click.testing import CliRunner

from convert.api import export
from convert.cli.main import main
from convert.ir import GraphBuilder, save
from convert.ir.graph import Source
from verify_checks import corrupt

keras = pytest.importorskip("keras")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _calibrated(model, x):
    """Randomise every weight (no all-ones/zeros left) so outputs carry signal."""
    rng = np.random.default_rng(1)
    for w in model.weights:
        w.assign(rng.standard_normal(w.shape).astype("float32") * 0.5)
    return model


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("reports")
    keras.utils.set_random_seed(0)
    L = keras.layers
    x = keras.Input((6, 6, 3), name="img")
    y = L.Conv2D(4, 3, name="conv")(x)
    y = L.Lambda(lambda t: t * 2.0, name="double")(y)
    y = L.Activation("gelu", name="act")(y)
    y = L.LayerNormalization(name="ln")(y)
    y = L.GlobalAveragePooling2D(name="gap")(y)
    _calibrated(keras.Model(x, L.Dense(3, name="fc")(y)), None).save(d / "lambda.keras")
    x = keras.Input((6, 6, 3), name="img")
    y = L.Conv2D(4, 3, activation="relu", name="conv")(x)
    y = L.GlobalAveragePooling2D(name="gap")(y)
    _calibrated(keras.Model(x, L.Dense(3, name="fc")(y)), None).save(d / "plain.keras")
    return d


def test_check_lists_importer_and_exporter_gaps_together(keras_files):
    r = invoke("check", keras_files / "lambda.keras", "--to", "caffe")
    assert r.exit_code == 3, r.output
    assert "unsupported item(s) in keras import and caffe export (target caffe)" in r.output
    out = r.output.split("caffe export:")
    assert "Lambda x1" in out[0] and "- double" in out[0]
    assert "Gelu x1" in out[1] and "LayerNormalization x1" in out[1] and "- ln" in out[1]
    r = invoke("check", keras_files / "plain.keras", "--to", "caffe")
    assert r.exit_code == 0 and r.output.startswith("ok: all")


def test_verify_names_a_layout_mismatch_and_the_hint_works(keras_files, tmp_path):
    target = tmp_path / "nchw.onnx"
    r = invoke("convert", keras_files / "plain.keras", "--io-layout", "nchw", "-o", target)
    assert r.exit_code == 0, r.output
    r = invoke("verify", keras_files / "plain.keras", target)
    assert r.exit_code == 2, r.output
    assert "channels-first" in r.output and "--io-layout nchw" in r.output and "Traceback" not in r.output
    r = invoke("verify", keras_files / "plain.keras", target, "--io-layout", "nchw")
    assert r.exit_code == 0 and "PASS" in r.output, r.output


def dotted_graph():
    """block.conv1 -> relu -> block.conv2: two layers whose names share the part before the dot."""
    rng = np.random.default_rng(0)
    b = GraphBuilder("dotted", "test")
    x = b.input("x", shape=("batch", 2, 5, 5))
    b.source = Source("test", "Conv2d", "block.conv1")
    y = b.op("Conv", x, b.weight("w1", rng.standard_normal((3, 2, 3, 3)) * 0.5), kernel_shape=[3, 3],
             pads=[1, 1, 1, 1])
    b.source = Source("test", "Tanh", "block.act")
    y = b.op("Tanh", y)
    b.source = Source("test", "Conv2d", "block.conv2")
    b.output(b.op("Conv", y, b.weight("w2", rng.standard_normal((2, 3, 3, 3)) * 0.5), kernel_shape=[3, 3],
                  pads=[1, 1, 1, 1]))
    return b.finish()


def test_repro_files_keep_the_whole_layer_name(tmp_path):
    save(dotted_graph(), tmp_path / "m.nnir")
    export(dotted_graph(), tmp_path / "m.onnx")
    art = tmp_path / "art"
    names = []
    for w in ("w1", "w2"):
        corrupt(tmp_path / "m.onnx", tmp_path / f"bad_{w}.onnx", w)
        before = set(art.glob("*.onnx")) if art.exists() else set()
        r = invoke("verify", tmp_path / "m.nnir", tmp_path / f"bad_{w}.onnx", "--per-layer", "--artifacts", art)
        assert r.exit_code == 1, r.output
        new = set(art.glob("*.onnx")) - before
        assert len(new) == 1, (w, sorted(art.iterdir()))
        names.append(new.pop().name)
    assert names[0].startswith("repro_block.conv1_") and names[1].startswith("repro_block.conv2_"), names
    assert len(list(art.glob("repro_*.npz"))) == 2


def test_wrong_input_name_lists_the_model_inputs(tmp_path):
    save(dotted_graph(), tmp_path / "m.nnir")
    np.save(tmp_path / "a.npy", np.zeros((1, 2, 5, 5), np.float32))
    r = invoke("verify", tmp_path / "m.nnir", tmp_path / "m.nnir", "--input", f"image={tmp_path / 'a.npy'}")
    assert r.exit_code == 2, r.output
    assert "the model's inputs are ['x']" in r.output and "'image'" in r.output and "KeyError" not in r.output


def test_inspect_counts_parameters_as_keras_does(tmp_path):
    keras.utils.set_random_seed(0)
    x = keras.Input((5, 3), name="seq")
    m = keras.Model(x, keras.layers.Dense(2, name="fc")(keras.layers.LSTM(4, name="lstm")(x)))
    m.save(tmp_path / "lstm.keras")
    r = invoke("inspect", tmp_path / "lstm.keras")
    assert r.exit_code == 0, r.output
    # Keras: one LSTM bias of 4*units; the IR keeps ONNX's input and recurrent halves (4 more each).
    assert f"{m.count_params():,} parameters as keras counts them ({m.count_params() + 16:,} IR weight" in r.output


CAFFE_NET = """input: "x"
input_shape { dim: 1 dim: 2 dim: 5 dim: 5 }
layer { name: "conv" type: "Convolution" bottom: "x" top: "conv"
  convolution_param { num_output: 3 kernel_size: 3 } }
layer { name: "fancy" type: "FancyNorm" bottom: "conv" top: "fancy" }
layer { name: "lrn" type: "LRN" bottom: "fancy" top: "lrn" lrn_param { local_size: 3 } }
layer { name: "mvn" type: "MVN" bottom: "lrn" top: "mvn" }
"""


def test_check_caffe_lists_importer_and_exporter_gaps_together(tmp_path):
    (tmp_path / "deploy.prototxt").write_text(CAFFE_NET)
    r = invoke("check", tmp_path / "deploy.prototxt", "--allow-missing-weights", "--to", "keras")
    assert r.exit_code == 3, r.output
    assert "in caffe import and keras export" in r.output
    imported, exported = r.output.split("keras export:")
    assert "FancyNorm x1" in imported and "- fancy" in imported
    assert "LRN x1" in exported and "MeanVarianceNormalization x1" in exported and "FancyNorm" not in exported
