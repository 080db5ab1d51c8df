"""Quantization ops from ONNX to PyTorch (exact integer arithmetic: half-to-even rounding,
saturation) and back to ONNX, compared with onnxruntime running the source model (the
ONNX reference implementation where onnxruntime lacks the kernel: blocked scales)."""
from __future__ import annotations

import numpy as np
import pytest

import convert

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx.reference import ReferenceEvaluator  # noqa: E402
from onnx_run import run_ort as _ort, run_torch as _torch, assert_same as _same, single_node  # noqa: E402

_model = single_node


def _check(model, feeds, oracle=_ort, round_trip: bool = True):
    want = oracle(model, feeds)
    graph = convert.from_onnx(model)
    _same(_torch(graph, feeds), want)
    if round_trip:
        _same(_ort(convert.to_onnx(graph, 21), feeds), want)
    # 1% more on the float (or one more on the integer) input moves the integers
    x = next(iter(feeds))
    v = feeds[x]
    other = {**feeds, x: (v * 1.01).astype(v.dtype) if v.dtype.kind == "f" else (v // 2).astype(v.dtype)}
    assert any(not np.array_equal(a, b) for a, b in zip(_torch(graph, other), want))


def _reference(model, feeds):
    return ReferenceEvaluator(model).run(None, feeds)


def _ties(scale: float, shape) -> np.ndarray:
    """Values at exact halves (round half to even) and far outside the integer range."""
    rng = np.random.default_rng(0)
    x = (rng.integers(-300, 300, shape) + 0.5) * scale
    x.flat[:4] = np.array([0.5, 1.5, 2.5, -2.5]) * scale
    return x.astype(np.float32)


@pytest.mark.parametrize("zp_type", [np.uint8, np.int8, np.int16])
def test_quantize_per_tensor(zp_type):
    x = _ties(0.25, (3, 8))
    model = _model("QuantizeLinear", {"x": x}, {"s": np.array(0.25, np.float32), "z": np.array(3, zp_type)}, [zp_type])
    _check(model, {"x": x})


def test_quantize_per_axis_without_zero_point():
    x = _ties(0.5, (2, 3, 4))
    model = _model("QuantizeLinear", {"x": x}, {"s": np.array([0.5, 0.25, 1.0], np.float32)}, [np.uint8], axis=1)
    _check(model, {"x": x})


def test_quantize_blocked():
    x = _ties(0.5, (2, 6))
    s = np.array([[0.5, 0.25], [1.0, 0.125]], np.float32)
    z = np.array([[1, -2], [0, 5]], np.int8)
    model = _model("QuantizeLinear", {"x": x}, {"s": s, "z": z}, [np.int8], axis=1, block_size=3)
    _check(model, {"x": x}, oracle=_reference, round_trip=False)


@pytest.mark.parametrize("axis", [0, -1])
def test_dequantize_per_axis_activation(axis):
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (4, 5), dtype=np.int8)
    n = x.shape[axis]
    s = rng.uniform(0.01, 0.1, n).astype(np.float32)
    z = rng.integers(-10, 10, n, dtype=np.int8)
    model = _model("DequantizeLinear", {"x": x}, {"s": s, "z": z}, [np.float32], axis=axis)
    _check(model, {"x": x})


def test_dynamic_quantize_linear():
    x = np.random.default_rng(2).normal(0.3, 1.0, (3, 7)).astype(np.float32)
    model = _model("DynamicQuantizeLinear", {"x": x}, {}, [np.uint8, np.float32, np.uint8])
    _check(model, {"x": x})


@pytest.mark.parametrize("qtype", [np.uint8, np.int8])
def test_qlinear_matmul(qtype):
    rng = np.random.default_rng(3)
    lo, hi = np.iinfo(qtype).min, np.iinfo(qtype).max + 1
    a = rng.integers(lo, hi, (2, 3, 4)).astype(qtype)
    consts = {"sa": np.array(0.05, np.float32), "za": np.array(2, qtype), "b": rng.integers(lo, hi, (4, 5)).astype(qtype),
              "sb": np.array(0.02, np.float32), "zb": np.array(-1 if qtype == np.int8 else 1, qtype),
              "sy": np.array(0.3, np.float32), "zy": np.array(3, qtype)}
    model = _model("QLinearMatMul", {"a": a}, consts, [qtype], order=["a", "sa", "za", "b", "sb", "zb", "sy", "zy"])
    _check(model, {"a": a})


def test_matmul_integer_with_zero_points():
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, (3, 4)).astype(np.uint8)
    consts = {"b": rng.integers(0, 256, (4, 2)).astype(np.uint8), "za": np.array(12, np.uint8),
              "zb": np.array([3, 200], np.uint8)}
    model = _model("MatMulInteger", {"a": a}, consts, [np.int32], order=["a", "b", "za", "zb"])
    _check(model, {"a": a})
