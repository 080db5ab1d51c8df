"""ONNX TopK with ``largest`` 0/1 and ``sorted`` 0/1, on the last and a middle axis, imported
and written to torch, Keras and LiteRT, each compared with onnxruntime. Every target sorts.
With ``sorted=1`` the comparison is exact and ordered (ties included: lower index first);
with ``sorted=0`` ONNX leaves the order of the k results open, so both sides are compared
as sets: each slice's (index, value) pairs ordered by index, then compared exactly."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

SHAPE, K = (3, 6, 7), 3
# (largest, sorted, axis): each of largest and sorted both ways, on the last and a middle axis
FORMS = [(1, 1, -1), (1, 0, -1), (0, 1, 1), (0, 0, 1)]


def _model(largest: int, sorted_: int, axis: int):
    node = helper.make_node("TopK", ["x", "k"], ["values", "indices"], axis=axis, largest=largest, sorted=sorted_)
    out = list(SHAPE)
    out[axis] = K
    g = helper.make_graph([node], "topk", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))],
                          [helper.make_tensor_value_info("values", TensorProto.FLOAT, out),
                           helper.make_tensor_value_info("indices", TensorProto.INT64, out)],
                          initializer=[numpy_helper.from_array(np.array([K], np.int64), "k")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)])


def _inputs(seed: int, ties: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if ties:  # few distinct values: equal elements must come out lower index first
        return rng.integers(-2, 3, SHAPE).astype(np.float32)
    return rng.permutation(np.arange(np.prod(SHAPE), dtype=np.float32) / 7 - 9).reshape(SHAPE)


def _as_set(values: np.ndarray, indices: np.ndarray, axis: int):
    order = np.argsort(indices, axis=axis, kind="stable")
    return np.take_along_axis(values, order, axis), np.take_along_axis(indices, order, axis)


def _run(target: str, graph, x: np.ndarray, tmp_path) -> tuple[np.ndarray, np.ndarray]:
    if target == "torch":
        from convert.exporters.torch import to_torch

        with torch.no_grad():
            v, i = to_torch(graph)(torch.from_numpy(x))
        return v.numpy(), i.numpy()
    if target == "keras":
        from convert.exporters.keras import to_keras

        v, i = to_keras(graph)([x], training=False)
        return np.asarray(v), np.asarray(i)
    pytest.importorskip("ai_edge_litert")
    from convert.exporters.tflite import runner, save

    path = tmp_path / "topk.tflite"
    save(graph, path)
    out = runner(str(path), graph=graph)({graph.inputs[0].name: x})
    return out[graph.outputs[0].name], out[graph.outputs[1].name]


@pytest.mark.parametrize("target", ["torch", "keras", "tflite"])
@pytest.mark.parametrize("largest,sorted_,axis", FORMS)
def test_topk_matches_onnxruntime(target, largest, sorted_, axis, tmp_path):
    from convert.importers.onnx import from_onnx

    model = _model(largest, sorted_, axis)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    graph = from_onnx(model)
    cases = [_inputs(0), _inputs(1)] + ([_inputs(2, ties=True)] if sorted_ else [])
    outs = []
    for x in cases:
        want_v, want_i = sess.run(None, {"x": x})
        got_v, got_i = _run(target, graph, x, tmp_path)
        assert got_i.dtype == np.int64 and got_v.shape == want_v.shape
        if not sorted_:
            (want_v, want_i), (got_v, got_i) = _as_set(want_v, want_i, axis), _as_set(got_v, got_i, axis)
        np.testing.assert_array_equal(got_i, want_i, err_msg=f"{target} indices")
        np.testing.assert_array_equal(got_v, want_v, err_msg=f"{target} values")
        outs.append(want_v)
    assert np.abs(outs[0] - outs[1]).max() > 0.1  # another input: other results
