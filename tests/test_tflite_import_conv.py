"""CONV_3D and TRANSPOSE_CONV read from .tflite: files nnconvert writes (from torch
Conv3d / ConvTranspose2d) and one TensorFlow's converter writes from a Keras
Conv2DTranspose, run in onnxruntime after import and compared with LiteRT's interpreter
running the same file."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_close, run_onnx
from litert_run import run_litert

pytest.importorskip("ai_edge_litert")
torch = pytest.importorskip("torch")
RTOL, ATOL = 1e-4, 1e-5


def _check(path, shape, ops: set) -> None:
    """The imported graph against the interpreter; another input and a 1% change to the
    convolution's filter both move the output far past the tolerance."""
    from ai_edge_litert.interpreter import Interpreter
    from convert.api import load_model

    assert ops <= {op["op_name"] for op in Interpreter(model_path=str(path))._get_ops_details()}
    graph = load_model(str(path)).graph
    name = graph.inputs[0].name
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    want = run_litert(path, x)
    got = next(iter(run_onnx(graph, {name: x}).values()))
    assert_close(got, want, RTOL, ATOL, str(path.name))
    other = run_litert(path, rng.standard_normal(shape).astype(np.float32))
    assert np.abs(other - want).max() > 100 * ATOL
    filt = max(graph.weights, key=lambda k: graph.weights[k].size)
    graph.weights[filt] = graph.weights[filt] * 1.01
    moved = next(iter(run_onnx(graph, {name: x}).values()))
    assert np.abs(moved - want).max() > 10 * (ATOL + RTOL * np.abs(want).max())


def _write(net, example, path) -> None:
    import convert
    from convert.exporters.tflite import to_tflite

    graph = convert.from_torch(net.eval(), (example,))
    data, _ = to_tflite(graph, io_layout="nhwc")
    path.write_bytes(data)


def test_conv3d_written_by_nnconvert(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv3d(3, 5, 3, stride=(1, 2, 2), padding=1), torch.nn.ReLU(),
                              torch.nn.Conv3d(5, 4, (2, 3, 3), dilation=(1, 2, 1)))
    _write(net, torch.randn(2, 3, 5, 9, 8), tmp_path / "c3.tflite")
    _check(tmp_path / "c3.tflite", (2, 5, 9, 8, 3), {"CONV_3D"})


@pytest.mark.parametrize("stride,padding,out_pad", [(2, 1, 1), (2, 0, 0), (3, 2, 1)])
def test_transpose_conv_written_by_nnconvert(stride, padding, out_pad, tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.ConvTranspose2d(3, 4, 3, stride=stride, padding=padding,
                                                       output_padding=out_pad), torch.nn.ReLU())
    path = tmp_path / "tc.tflite"
    _write(net, torch.randn(2, 3, 5, 6), path)
    _check(path, (2, 5, 6, 3), {"TRANSPOSE_CONV"})


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_transpose_conv_written_by_tensorflow(padding, tmp_path):
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    keras.utils.set_random_seed(0)
    inp = keras.Input((5, 6, 3), batch_size=2)
    y = keras.layers.Conv2DTranspose(4, 3, strides=2, padding=padding, activation="relu",
                                     bias_initializer="random_normal")(inp)
    model = keras.Model(inp, y)
    path = tmp_path / "k.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    _check(path, (2, 5, 6, 3), {"TRANSPOSE_CONV"})
    x = np.random.default_rng(2).standard_normal((2, 5, 6, 3)).astype(np.float32)
    from convert.api import load_model

    graph = load_model(str(path)).graph
    got = next(iter(run_onnx(graph, {graph.inputs[0].name: x}).values()))
    assert_close(got, np.asarray(model(x)), RTOL, ATOL, "vs keras")
