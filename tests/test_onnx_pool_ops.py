"""ONNX pooling the torch layers cannot spell (AveragePool with dilations, SAME pads,
ceil_mode and both count_include_pad rules; LpPool) and small ops read as IR
decompositions (LpNormalization, EyeLike, Swish), compared with onnxruntime running the
source model."""
from __future__ import annotations

import numpy as np
import pytest

import convert

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

RTOL, ATOL = 1e-5, 1e-5


def _model(op: str, shape, opset: int, out_type=TensorProto.FLOAT, in_type=TensorProto.FLOAT, **attrs):
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    g = helper.make_graph([node], "m", [helper.make_tensor_value_info("x", in_type, list(shape))],
                          [helper.make_tensor_value_info("y", out_type, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _ort(model, x):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def _torch(graph, x):
    with torch.no_grad():
        return convert.to_torch(graph)(torch.from_numpy(x)).numpy()


def _x(shape, seed: int):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _check(model, shape, round_trip_opset: int | None = None):
    x = _x(shape, 0)
    want = _ort(model, x)
    graph = convert.from_onnx(model)
    np.testing.assert_allclose(_torch(graph, x), want, RTOL, ATOL)
    if round_trip_opset:
        np.testing.assert_allclose(_ort(convert.to_onnx(graph, round_trip_opset), x), want, RTOL, ATOL)
    # another input moves the output far past the tolerance: the check can fail
    assert np.abs(_torch(graph, _x(shape, 1)) - want).max() > 1000 * ATOL


POOLS = {
    "avg_dilated_2d": ("AveragePool", (2, 3, 7, 8), dict(kernel_shape=[2, 3], dilations=[2, 1])),
    "avg_dilated_ceil_pads_3d": ("AveragePool", (1, 2, 6, 7, 5), dict(
        kernel_shape=[2, 2, 3], dilations=[2, 3, 1], strides=[2, 1, 2], pads=[1, 0, 1, 0, 1, 2], ceil_mode=1)),
    "avg_dilated_include_pad": ("AveragePool", (1, 2, 7, 6), dict(
        kernel_shape=[3, 2], dilations=[2, 2], pads=[2, 1, 1, 1], count_include_pad=1, ceil_mode=1, strides=[2, 2])),
    "avg_same_upper_exclude": ("AveragePool", (2, 3, 7, 5), dict(kernel_shape=[2, 4], strides=[2, 3],
                                                                  auto_pad="SAME_UPPER")),
    "avg_same_lower_include": ("AveragePool", (2, 3, 5, 6), dict(kernel_shape=[3, 4], auto_pad="SAME_LOWER",
                                                                  count_include_pad=1)),
    "avg_big_pads_1d": ("AveragePool", (2, 3, 9), dict(kernel_shape=[3], pads=[2, 1], strides=[2])),
    "lp2_default_2d": ("LpPool", (2, 3, 6, 5), dict(kernel_shape=[2, 3])),
    "lp1_pads_strides": ("LpPool", (1, 3, 7, 6), dict(kernel_shape=[3, 2], p=1, pads=[1, 0, 2, 1], strides=[2, 2])),
    "lp3_dilated_ceil": ("LpPool", (1, 2, 8, 7), dict(kernel_shape=[2, 2], p=3, dilations=[2, 3], ceil_mode=1,
                                                      strides=[2, 2])),
    "lp2_same_upper_1d": ("LpPool", (2, 2, 9), dict(kernel_shape=[4], auto_pad="SAME_UPPER", strides=[2])),
}


@pytest.mark.parametrize("case", sorted(POOLS))
def test_pool_matches_onnxruntime(case):
    op, shape, attrs = POOLS[case]
    _check(_model(op, shape, 22, **attrs), shape, round_trip_opset=22)


def test_dilated_average_pool_refused_below_its_opset():
    from convert.errors import UnsupportedError

    graph = convert.from_onnx(_model("AveragePool", (1, 1, 6, 6), 22, kernel_shape=[2, 2], dilations=[2, 2]))
    with pytest.raises(UnsupportedError, match=r"y \(AveragePool\): dilations=\[2, 2\] -- .*opset >= 19"):
        convert.to_onnx(graph, 17)


@pytest.mark.parametrize("p,axis", [(1, 0), (2, 1), (2, -1), (1, 2)])
def test_lp_normalization(p, axis):
    shape = (3, 4, 5)
    _check(_model("LpNormalization", shape, 22, p=p, axis=axis), shape, round_trip_opset=17)


def test_lp_normalization_zero_norm_is_zero():
    x = np.zeros((2, 3), np.float32)
    x[1] = [3.0, 0.0, 4.0]
    graph = convert.from_onnx(_model("LpNormalization", (2, 3), 22, p=2, axis=1))
    np.testing.assert_allclose(_torch(graph, x), [[0, 0, 0], [0.6, 0, 0.8]], RTOL, ATOL)


@pytest.mark.parametrize("k,dtype", [(0, None), (2, TensorProto.INT32), (-1, TensorProto.DOUBLE)])
def test_eye_like_is_a_constant(k, dtype):
    attrs = {"k": k} if dtype is None else {"k": k, "dtype": dtype}
    model = _model("EyeLike", (3, 5), 22, out_type=dtype or TensorProto.FLOAT, **attrs)
    x = _x((3, 5), 0)
    want = _ort(model, x)
    got = _torch(convert.from_onnx(model), x)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_swish_alpha():
    _check(_model("Swish", (2, 7), 24, alpha=0.7), (2, 7), round_trip_opset=17)
