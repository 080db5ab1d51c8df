""".tflite as a source: a file written by TensorFlow's own TFLiteConverter from a Keras
model, and nnconvert's own fp16 file, read into the IR and converted to ONNX, verified
against the LiteRT interpreter (and the Keras model); broken files end in one clear error."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_close, run_onnx

pytest.importorskip("ai_edge_litert")


@pytest.fixture(scope="module")
def tf_file(tmp_path_factory):
    """(keras model, .tflite written by TensorFlow's converter)."""
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((13, 11, 3))
    y = L.Conv2D(6, 3, padding="same")(inp)
    y = L.ReLU()(L.BatchNormalization()(y))
    y = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(y)
    y = L.Concatenate()([L.MaxPooling2D(2, padding="same")(y), L.AveragePooling2D(2, padding="same")(y)])
    y = L.Dense(5, activation="softmax")(L.GlobalAveragePooling2D()(y))
    model = keras.Model(inp, y)
    bn = model.layers[2]
    rng = np.random.default_rng(0)
    bn.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in bn.get_weights()])
    path = tmp_path_factory.mktemp("tf") / "keras.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return model, path


def test_tensorflow_converter_file_imports_and_verifies(tf_file, tmp_path):
    from convert.api import convert_file, load_model

    model, path = tf_file
    loaded = load_model(str(path))
    x = np.random.default_rng(1).standard_normal((3, 13, 11, 3)).astype(np.float32)
    ir_out = run_onnx(loaded.graph, {loaded.graph.inputs[0].name: x})
    assert_close(next(iter(ir_out.values())), np.asarray(model(x, training=False)), 1e-4, 1e-5, "vs keras")
    res = convert_file(str(path), str(tmp_path / "m.onnx"), verify=True, verify_options={"samples": 2})
    assert res.report.ok  # the ONNX file against LiteRT's interpreter, two batch sizes


def test_fp16_file_dequantized_with_warning(tmp_path):
    torch = pytest.importorskip("torch")
    import convert
    from convert.api import convert_file, load_model
    from convert.exporters.tflite import to_tflite

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 8, 3, stride=2, groups=8), torch.nn.Hardswish()).eval()
    graph = convert.from_torch(net, (torch.randn(1, 3, 10, 9),))
    data, _ = to_tflite(graph, precision="fp16", io_layout="nhwc")
    (tmp_path / "h.tflite").write_bytes(data)
    loaded = load_model(str(tmp_path / "h.tflite"))
    assert any("dequantized" in w for w in loaded.warnings)
    res = convert_file(str(tmp_path / "h.tflite"), str(tmp_path / "h.onnx"), verify=True)
    assert res.report.ok


@pytest.mark.parametrize("damage", ["truncated", "not_tflite", "empty"])
def test_broken_file_is_one_clear_error(damage, tf_file, tmp_path):
    from convert.api import load_model
    from convert.errors import ModelLoadError

    raw = tf_file[1].read_bytes()
    bad = {"truncated": raw[: len(raw) // 3], "not_tflite": b"PK\x03\x04" + raw[4:], "empty": b""}[damage]
    (tmp_path / "bad.tflite").write_bytes(bad)
    with pytest.raises(ModelLoadError) as err:
        load_model(str(tmp_path / "bad.tflite"))
    assert "bad.tflite" in str(err.value) and "\n" not in str(err.value)
