"""float16 attention from ONNX rounds where ONNX does: without softmax_precision, Attention
computes its softmax in the inputs' dtype, and a float16 Softmax is ONNX's function body
(exponentials and their sum are float16 tensors). The oracle is ``onnx.reference`` (the
code that writes the backend suite's expected outputs, where test_attention_4d_fp16 and
test_attention_4d_causal_fp16_expanded live); the PyTorch module and
``.pt2`` must match it bit for bit."""
from __future__ import annotations

import numpy as np
import pytest

import convert

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402
from onnx_run import run_torch  # noqa: E402

# (Q, K, V shapes, attributes); several rows per case, so some round differently
CASES = {
    "plain": (((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 8)), {}),
    "causal": (((2, 3, 6, 8), (2, 3, 6, 8), (2, 3, 6, 4)), {"is_causal": 1}),
    "grouped_scaled": (((1, 4, 5, 8), (1, 2, 6, 8), (1, 2, 6, 8)), {"scale": 0.3}),
}


def _attention(shapes, attrs):
    vis = [helper.make_tensor_value_info(n, TensorProto.FLOAT16, s) for n, s in zip("QKV", shapes)]
    g = helper.make_graph([helper.make_node("Attention", ["Q", "K", "V"], ["Y"], **attrs)], "a", vis,
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT16, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 23)])


def _inputs(shapes, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {n: (rng.standard_normal(s) * 2).astype(np.float16) for n, s in zip("QKV", shapes)}


def _check(model, feeds: dict, other: dict) -> None:
    graph = convert.from_onnx(model)
    ref = ReferenceEvaluator(model)
    (want,) = ref.run(None, feeds)
    (got,) = run_torch(graph, feeds)
    assert got.dtype == want.dtype == np.float16
    np.testing.assert_array_equal(got, want)
    # float32 softmax (what the module computed before) differs from ONNX's rounding somewhere
    (moved,) = run_torch(graph, other)
    assert np.abs(moved.astype(np.float64) - want).max() > 0.1


@pytest.mark.parametrize("name", CASES)
def test_half_attention_rounds_as_onnx(name, tmp_path):
    shapes, attrs = CASES[name]
    model = _attention(shapes, attrs)
    graph = convert.from_onnx(model)
    assert [n.attrs.get("softmax_precision") for n in graph.nodes] == ["float16"]
    feeds = _inputs(shapes, 0)
    _check(model, feeds, _inputs(shapes, 1))
    convert.export(graph, tmp_path / "a.pt2")  # the exported program rounds the same way
    with torch.no_grad():
        got = torch.export.load(str(tmp_path / "a.pt2")).module()(*[torch.from_numpy(v) for v in feeds.values()])
    np.testing.assert_array_equal(got.numpy(), ReferenceEvaluator(model).run(None, feeds)[0])


def test_half_softmax_rounds_as_onnx():
    """Over the last axis: there numpy (the reference) sums float16 in float32 and rounds
    once; over an inner axis it rounds after every addition, a layout artefact ONNX's
    definition (ReduceSum to a float16 tensor) does not ask for."""
    x = (np.random.default_rng(0).standard_normal((4, 3, 16)) * 3).astype(np.float16)
    vi = [helper.make_tensor_value_info("X", TensorProto.FLOAT16, x.shape)]
    g = helper.make_graph([helper.make_node("Softmax", ["X"], ["Y"], axis=-1)], "s", vi,
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT16, None)])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    _check(model, {"X": x}, {"X": x[::-1].copy() * np.float16(2)})


def test_float32_softmax_precision_keeps_float32():
    """softmax_precision=FLOAT on half inputs is the IR's default (float32 at least)."""
    vis = [helper.make_tensor_value_info(n, TensorProto.FLOAT16, [1, 2, 3, 4]) for n in "QKV"]
    g = helper.make_graph([helper.make_node("Attention", ["Q", "K", "V"], ["Y"], softmax_precision=1)], "a", vis,
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT16, None)])
    graph = convert.from_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 23)]))
    assert [n.attrs.get("softmax_precision", "") for n in graph.nodes] == [""]
