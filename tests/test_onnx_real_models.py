"""The real models shipped in the onnx wheel, through the ONNX importer to PyTorch:
``pytorch-converted`` / ``pytorch-operator`` / ``simple`` with their own recorded inputs and
outputs, and the ``light`` CNNs (opset 9) with seeded random weights in place of their
constant fills, compared with onnxruntime running the same randomised model."""
from __future__ import annotations

import glob
import logging
import math
import os
import warnings

import numpy as np
import pytest

import convert

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import numpy_helper  # noqa: E402
from onnx_conformance import OUT_OF_SCOPE  # noqa: E402  (the reviewed out-of-scope ops)

DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
FOLDERS = sorted(glob.glob(os.path.join(DATA, "pytorch-converted", "*")) +
                 glob.glob(os.path.join(DATA, "pytorch-operator", "*")) + glob.glob(os.path.join(DATA, "simple", "*")))
# Reviewed: the shipped models the importer refuses, by the op its refusal names. Each is out
# of scope (an op in OUT_OF_SCOPE, checked below), whether or not onnxruntime runs it:
# - Gradient (ai.onnx.preview.training): training; onnxruntime has no kernel for it either.
# - Sequence* / SplitToSequence / ConcatFromSequence: sequences; onnxruntime runs them.
# - StringNormalizer: strings; onnxruntime fails four of the six without an en_US.UTF-8 locale.
# The Expand models (a target shape fed as a graph input), which onnxruntime runs, convert.
REFUSED = {
    "test_gradient_of_add": "Gradient", "test_gradient_of_add_and_mul": "Gradient",
    **{f"test_sequence_model{k}": "Sequence" for k in range(1, 9)},
    **{f"test_strnorm_model_{s}": "StringNormalizer" for s in (
        "monday_casesensintive_lower", "monday_casesensintive_nochangecase", "monday_casesensintive_upper",
        "monday_empty_output", "monday_insensintive_upper_twodim", "nostopwords_nochangecase")},
}
# The light CNNs small enough for CI memory (vgg19, alexnet and zfnet512 fill ~0.5 GB dense layers).
# densenet121 converts too, but takes a minute on a 2-core machine; inception_v2 converts,
# but with random weights its output no longer depends on the input, so its check could not fail.
LIGHT = ["squeezenet", "shufflenet", "resnet50", "inception_v1"]  # inception_v1: AveragePool, asymmetric pads


def _tensor(path: str) -> np.ndarray:
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def _run_torch(graph, inputs):
    with torch.no_grad():
        out = convert.to_torch(graph)(*[torch.from_numpy(np.array(x)) for x in inputs])
    return [o.numpy() for o in (out if isinstance(out, (tuple, list)) else [out])]


@pytest.fixture(autouse=True)
def _quiet():
    logging.getLogger("convert").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_shipped_models_match_their_recorded_outputs():
    """Every shipped model converts and matches its recorded outputs, or is refused naming the op."""
    assert len(FOLDERS) > 100
    passed, refused, ops = [], {}, {}
    for folder in FOLDERS:
        name = os.path.basename(folder)
        model = onnx.load(os.path.join(folder, "model.onnx"))
        data = sorted(glob.glob(os.path.join(folder, "test_data_set_*")))[0]
        inputs = [_tensor(p) for p in sorted(glob.glob(os.path.join(data, "input_*.pb")))]
        want = [_tensor(p) for p in sorted(glob.glob(os.path.join(data, "output_*.pb")))]
        try:
            graph = convert.from_onnx(model)
        except convert.UnsupportedError as e:
            refused[name] = str(e)
            ops[name] = {n.op_type for n in model.graph.node}
            continue
        got = _run_torch(graph, inputs)
        assert len(got) == len(want), name
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-5, equal_nan=True, err_msg=name)
        passed.append(name)
    assert sorted(refused) == sorted(REFUSED)
    for name, op in REFUSED.items():
        assert op in refused[name], refused[name]
        assert ops[name] & OUT_OF_SCOPE, (name, ops[name])
    assert len(passed) == len(FOLDERS) - len(REFUSED)


def _randomised(path: str, seed: int):
    """The model with every constant fill (ConstantOfShape) and float initializer replaced
    by seeded random values, scaled so activations stay in range through deep nets."""
    model = onnx.load(path)
    model.ir_version = max(model.ir_version, 4)  # initializers need not be listed as graph inputs
    rng = np.random.default_rng(seed)
    g = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}

    positive = {n.input[k] for n in g.node if n.op_type == "BatchNormalization" for k in (1, 4)}

    def fill(shape, name):
        if len(shape) >= 2:
            return (rng.standard_normal(shape) * math.sqrt(2.0 / max(1, math.prod(shape[1:])))).astype(np.float32)
        if name in positive:  # batch-norm scales and variances
            return rng.uniform(0.5, 1.5, shape).astype(np.float32)
        return (0.1 * rng.standard_normal(shape)).astype(np.float32)

    keep = []
    for node in g.node:
        if node.op_type == "ConstantOfShape" and node.input[0] in consts:
            shape = tuple(int(d) for d in consts[node.input[0]])
            g.initializer.append(numpy_helper.from_array(fill(shape, node.output[0]), node.output[0]))
        else:
            keep.append(node)
    if keep[-1].op_type == "Softmax" and keep[-1].output[0] == g.output[0].name:
        g.output[0].name = keep.pop().input[0]  # compare logits: saturated probabilities hide errors
    del g.node[:]
    g.node.extend(keep)
    for t in list(g.initializer):
        arr = numpy_helper.to_array(t)
        if arr.dtype == np.float32 and arr.size > 1 and np.all(arr == arr.reshape(-1)[0]):
            t.CopyFrom(numpy_helper.from_array(fill(arr.shape, t.name), t.name))
    return model


@pytest.mark.slow
@pytest.mark.parametrize("name", LIGHT)
def test_light_model_with_random_weights(name):
    model = _randomised(os.path.join(DATA, "light", f"light_{name}.onnx"), seed=sum(map(ord, name)))
    x = np.random.default_rng(7).standard_normal((1, 3, 224, 224)).astype(np.float32)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    want = sess.run(None, {sess.get_inputs()[0].name: x})
    graph = convert.from_onnx(model)
    got = _run_torch(graph, [x])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-4 * float(np.abs(w).max()))
    # the check can fail: another input moves the output far past the tolerance
    other = _run_torch(graph, [np.random.default_rng(8).standard_normal(x.shape).astype(np.float32)])
    assert np.abs(other[0] - got[0]).max() > 1e-2 * float(np.abs(want[0]).max())


def _shipped(name: str):
    folder = glob.glob(os.path.join(DATA, "*", name))[0]
    data = sorted(glob.glob(os.path.join(folder, "test_data_set_*")))[0]
    return (onnx.load(os.path.join(folder, "model.onnx")),
            [_tensor(p) for p in sorted(glob.glob(os.path.join(data, "input_*.pb")))],
            [_tensor(p) for p in sorted(glob.glob(os.path.join(data, "output_*.pb")))])


@pytest.mark.parametrize("k", [1, 3, 4])
def test_expand_to_a_shape_fed_at_run_time(k):
    """Expand whose target shape is a graph input: the torch module and the ONNX round trip
    read it at run time (another shape gives another output shape, as in onnxruntime)."""
    from convert.exporters import keras as keras_export
    from convert.exporters import torch as torch_export
    from convert.exporters.onnx import to_onnx

    model, (x, shape), (want,) = _shipped(f"test_expand_shape_model{k}")
    graph = convert.from_onnx(model)
    assert len(graph.nodes) == 1 and graph.nodes[0].inputs[1], "the shape stays a run-time operand"
    np.testing.assert_array_equal(_run_torch(graph, [x, shape])[0], want)
    rng = np.random.default_rng(k)
    x2 = rng.standard_normal(x.shape).astype(x.dtype)
    shape2 = np.array([2] * (len(shape) - 2) + [3, 5], dtype=np.int64)  # (1, 3, 1) -> (..., 3, 5)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"X": x2, "shape": shape2})[0]
    got = _run_torch(graph, [x2, shape2])[0]
    assert got.shape == ref.shape != want.shape
    np.testing.assert_array_equal(got, ref)
    assert np.abs(got - _run_torch(graph, [x, shape2])[0]).max() > 0.1  # the check can fail: x matters
    back = ort.InferenceSession(to_onnx(graph).SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(back.run(None, {"X": x2, "shape": shape2})[0], ref)
    # .pt2 and Keras read the entries at run time too (tests/test_runtime_shapes_targets.py)
    assert torch_export.unsupported_pt2(graph) == [] and keras_export.unsupported(graph) == []
