"""Bitwise ops and BitShift from ONNX to PyTorch and back to ONNX, compared with
onnxruntime running the source model; signed shifts past the bit width follow opset 28."""
from __future__ import annotations

import numpy as np
import pytest

import convert

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402


def _model(op: str, dtype: int, n_in: int = 2, opset: int = 18, **attrs):
    names = ["a", "b"][:n_in]
    g = helper.make_graph([helper.make_node(op, names, ["y"], **attrs)], op,
                          [helper.make_tensor_value_info(n, dtype, ["N", 6]) for n in names],
                          [helper.make_tensor_value_info("y", dtype, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _run_ort(model, feeds):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def _torch(graph, feeds):
    with torch.no_grad():
        return convert.to_torch(graph)(*[torch.from_numpy(v) for v in feeds.values()]).numpy()


CASES = [("BitwiseAnd", 2, {}), ("BitwiseOr", 2, {}), ("BitwiseXor", 2, {}), ("BitwiseNot", 1, {}),
         ("BitShift", 2, {"direction": "LEFT"}), ("BitShift", 2, {"direction": "RIGHT"})]


@pytest.mark.parametrize("op,n_in,attrs", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_uint8_matches_onnxruntime(op, n_in, attrs):
    rng = np.random.default_rng(0)
    model = _model(op, TensorProto.UINT8, n_in, **attrs)
    feeds = {"a": rng.integers(0, 256, (3, 6), dtype=np.uint8), "b": rng.integers(0, 8, (3, 6), dtype=np.uint8)}
    feeds = dict(list(feeds.items())[:n_in])
    want = _run_ort(model, feeds)
    graph = convert.from_onnx(model)
    got = _torch(graph, feeds)
    assert got.dtype == want.dtype and np.array_equal(got, want)
    assert np.array_equal(_run_ort(convert.to_onnx(graph, 18), feeds), want)  # ONNX round trip
    other = {k: (v + 1).astype(np.uint8) for k, v in feeds.items()}
    assert not np.array_equal(_torch(graph, other), want)


def test_signed_shift_amounts_out_of_range():
    model = _model("BitShift", TensorProto.INT8, direction="RIGHT", opset=28)
    x = np.array([[-100, -1, 64, 5, -7, 127]] * 2, np.int8)
    s = np.array([[1, 9, 8, -1, 2, 0]] * 2, np.int8)
    # opset 28: arithmetic right shift; an amount < 0 or >= 8 leaves only the sign fill
    want = np.array([[-50, -1, 0, 0, -2, 127]] * 2, np.int8)
    got = _torch(convert.from_onnx(model), {"a": x, "b": s})
    assert np.array_equal(got, want)


def test_old_opset_refused_by_name():
    from convert.errors import UnsupportedError

    graph = convert.from_onnx(_model("BitwiseAnd", TensorProto.INT32))
    with pytest.raises(UnsupportedError, match="opset >= 18"):
        convert.to_onnx(graph, 17)
