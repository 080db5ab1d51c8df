"""QLinearConv and ConvInteger from ONNX to PyTorch (exact int32 sums, onnxruntime's float32
requantisation) and back to ONNX, compared exactly with onnxruntime running the source
model; the ONNX reference implementation (float64 requantisation) where onnxruntime lacks
the kernel, and as a second opinion within one step of the output's integer type. Also
small float CNNs quantised by onnxruntime's own ``quantize_static`` (QOperator and QDQ)."""
from __future__ import annotations

import numpy as np
import pytest

import convert

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402
from onnx_run import assert_same, run_ort, run_torch, single_node  # noqa: E402


def _reference(model, feeds):
    return ReferenceEvaluator(model).run(None, feeds)


def _ints(rng, dtype, shape, bits: int = 8) -> np.ndarray:
    lo = 0 if dtype == np.uint8 else -(1 << (bits - 1))
    return rng.integers(lo, lo + (1 << bits), shape).astype(dtype)


# onnxruntime's uint8 x int8 kernels on x86 without VNNI add pairs of products in int16 with
# saturation (pmaddubsw), so full-range int8 weights give wrong sums there; its quantizer's
# reduce_range keeps them to 7 bits. The cases against onnxruntime do the same.
U8S8_BITS = 7


def _check(model, feeds: dict, weight: str, oracle=run_ort, round_trip: bool = True, reference: bool = True) -> None:
    """Exact against the oracle (to torch and through the ONNX round trip); within one step
    of the ONNX reference; another input and a changed middle weight move the integers."""
    want = oracle(model, feeds)
    graph = convert.from_onnx(model)
    assert_same(run_torch(graph, feeds), want)
    if round_trip:
        assert_same(run_ort(convert.to_onnx(graph, 21), feeds), want)
    if reference:
        ref = _reference(model, feeds)[0].astype(np.int64)
        assert np.abs(ref - want[0].astype(np.int64)).max() <= 1
    x = next(iter(feeds))
    other = {**feeds, x: (feeds[x] // 2).astype(feeds[x].dtype)}
    assert not np.array_equal(run_torch(graph, other)[0], want[0])
    changed = onnx.ModelProto()
    changed.CopyFrom(model)
    init = next(t for t in changed.graph.initializer if t.name == weight)
    w = numpy_helper.to_array(init).copy()
    mid = w.size // 2
    lo = np.iinfo(w.dtype).min
    w.flat[mid] = lo + (int(w.flat[mid]) - lo + 100) % 200  # stays within 7 bits for int8
    init.CopyFrom(numpy_helper.from_array(w, weight))
    assert not np.array_equal(run_torch(convert.from_onnx(changed), feeds)[0], want[0])


QLINEAR = ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy"]

# (x type, w type, x shape, w shape, per-channel, attributes)
QLINEAR_CASES = {
    "u8-per-tensor-bias": (np.uint8, np.uint8, (2, 3, 6, 5), (4, 3, 3, 3), False, dict(pads=[1, 1, 1, 1])),
    "u8-s8-per-channel-groups-asym": (np.uint8, np.int8, (1, 4, 7, 6), (6, 2, 3, 2), True,
                                      dict(group=2, strides=[2, 1], dilations=[1, 2], pads=[0, 1, 2, 0])),
    "s8-1d-same-lower": (np.int8, np.int8, (2, 3, 9), (5, 3, 4), True, dict(auto_pad="SAME_LOWER", strides=[2])),
    "u8-depthwise-same-upper": (np.uint8, np.int8, (1, 3, 5, 7), (3, 1, 3, 3), False,
                                dict(group=3, auto_pad="SAME_UPPER")),
}


@pytest.mark.parametrize("case", list(QLINEAR_CASES))
def test_qlinear_conv(case):
    xt, wt, xs, ws, per_channel, attrs = QLINEAR_CASES[case]
    rng = np.random.default_rng(sorted(QLINEAR_CASES).index(case))
    m = ws[0]
    x = _ints(rng, xt, xs)
    consts = {"sx": np.array(0.02, np.float32), "zx": np.array(7 if xt == np.int8 else 131, xt),
              "w": _ints(rng, wt, ws, U8S8_BITS if (xt, wt) == (np.uint8, np.int8) else 8),
              "sw": rng.uniform(0.002, 0.01, m).astype(np.float32) if per_channel else np.array(0.004, np.float32),
              # onnxruntime takes per-channel int8 weights with zero zero points only
              "zw": np.zeros(m, wt) if per_channel else np.array(3, wt),
              "sy": np.array(0.05, np.float32), "zy": np.array(-5 if xt == np.int8 else 120, xt)}
    order = list(QLINEAR)
    if case.endswith("bias"):
        consts["b"] = rng.integers(-2000, 2000, m).astype(np.int32)
        order.append("b")
    model = single_node("QLinearConv", {"x": x}, consts, [xt], opset=10, order=order, **attrs)
    # the reference's per-channel scale broadcast assumes 2-D convolutions
    _check(model, {"x": x}, "w", reference=len(xs) == 4 or not per_channel)


def test_qlinear_conv_requantises_in_float32_as_onnxruntime():
    """Next to a tie, onnxruntime's float32 product of sum and factor and the reference's
    float64 one round apart: 235 * 0.48723406 is 114.49999... in float64, 114.5 in float32
    (then half to even: 114). The converted model follows onnxruntime, the reference is one
    step away."""
    factor = np.float32(0.48723405599594116)
    x = np.array([[[[245, 10, 11], [200, 255, 13]]]], np.uint8)  # x - 10: 235 (the tie), 0, 1, 190, 245, 3
    consts = {"sx": np.array(factor), "zx": np.array(10, np.uint8), "w": np.ones((1, 1, 1, 1), np.uint8),
              "sw": np.array(1.0, np.float32), "zw": np.array(0, np.uint8), "sy": np.array(1.0, np.float32),
              "zy": np.array(0, np.uint8)}
    model = single_node("QLinearConv", {"x": x}, consts, [np.uint8], opset=10, order=QLINEAR)
    want = run_ort(model, {"x": x})
    assert_same(run_torch(convert.from_onnx(model), {"x": x}), want)
    ref = _reference(model, {"x": x})[0].astype(np.int64)
    assert want[0][0, 0, 0, 0] == 114 and ref[0, 0, 0, 0] == 115
    assert np.array_equal(np.delete(ref.ravel(), 0), np.delete(want[0].ravel(), 0))


def test_qlinear_conv_full_range_u8s8_weights_follow_the_spec():
    """With full-range int8 weights the converted model keeps the exact int32 sums of the
    spec (onnxruntime's pmaddubsw kernels may saturate: its result is not the oracle here)."""
    rng = np.random.default_rng(12)
    x = _ints(rng, np.uint8, (1, 4, 7, 6))
    consts = {"sx": np.array(0.02, np.float32), "zx": np.array(131, np.uint8), "w": _ints(rng, np.int8, (6, 4, 3, 2)),
              "sw": rng.uniform(0.002, 0.01, 6).astype(np.float32), "zw": np.zeros(6, np.int8),
              "sy": np.array(0.05, np.float32), "zy": np.array(120, np.uint8)}
    model = single_node("QLinearConv", {"x": x}, consts, [np.uint8], opset=10, order=QLINEAR)
    _check(model, {"x": x}, "w", oracle=_reference, round_trip=False)


CONV_INTEGER_CASES = {
    "zero-points-pads": ((2, 2, 5, 6), (3, 2, 2, 3), dict(pads=[1, 0, 0, 2]), True),
    "no-zero-points-groups": ((1, 4, 6, 5), (4, 2, 3, 3), dict(group=2, strides=[2, 2]), False),
}


@pytest.mark.parametrize("case", list(CONV_INTEGER_CASES))
def test_conv_integer(case):
    xs, ws, attrs, zero_points = CONV_INTEGER_CASES[case]
    rng = np.random.default_rng(20 + sorted(CONV_INTEGER_CASES).index(case))
    x = _ints(rng, np.uint8, xs)
    consts = {"w": _ints(rng, np.uint8, ws)}
    if zero_points:
        consts.update(zx=np.array(100, np.uint8), zw=np.array(140, np.uint8))
    model = single_node("ConvInteger", {"x": x}, consts, [np.int32], opset=10, **attrs)
    _check(model, {"x": x}, "w")


def test_conv_integer_per_channel_zero_point():
    """onnxruntime's ConvInteger takes only a scalar w_zero_point: the reference is the oracle."""
    rng = np.random.default_rng(30)
    x = _ints(rng, np.uint8, (2, 3, 5, 4))
    consts = {"w": _ints(rng, np.uint8, (4, 3, 2, 2)), "zx": np.array(9, np.uint8),
              "zw": np.array([0, 1, 200, 255], np.uint8)}
    model = single_node("ConvInteger", {"x": x}, consts, [np.int32], opset=10, pads=[1, 1, 0, 0])
    _check(model, {"x": x}, "w", oracle=_reference, round_trip=False)


# -- onnxruntime's quantize_static on a small float CNN ------------------------------------

def _float_cnn(rng) -> onnx.ModelProto:
    def w(*shape):
        return numpy_helper.from_array(rng.normal(0, 0.4, shape).astype(np.float32), f"w{len(inits)}")

    inits = []
    nodes = []
    cur = "x"
    for k, (cout, cin, group) in enumerate([(8, 3, 1), (8, 4, 2), (6, 8, 1)]):
        inits.append(w(cout, cin, 3, 3))
        inits.append(numpy_helper.from_array(rng.normal(0, 0.2, cout).astype(np.float32), f"b{k}"))
        out = f"c{k}"
        nodes.append(helper.make_node("Conv", [cur, inits[-2].name, f"b{k}"], [out], pads=[1, 1, 1, 1], group=group,
                                      strides=[2, 2] if k == 1 else [1, 1]))
        cur = out
        if k < 2:
            nodes.append(helper.make_node("Relu", [cur], [f"r{k}"]))
            cur = f"r{k}"
    g = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 10, 12])],
                          [helper.make_tensor_value_info(cur, TensorProto.FLOAT, None)], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def float_cnn(tmp_path_factory):
    rng = np.random.default_rng(40)
    path = tmp_path_factory.mktemp("qcnn") / "float.onnx"
    onnx.save(_float_cnn(rng), path)
    calibration = [rng.normal(0, 1, (2, 3, 10, 12)).astype(np.float32) for _ in range(4)]
    return path, calibration, rng.normal(0, 1, (3, 3, 10, 12)).astype(np.float32)


@pytest.mark.parametrize("fmt,per_channel", [("QOperator", False), ("QOperator", True), ("QDQ", True)])
def test_quantize_static_cnn_to_pt2(float_cnn, fmt, per_channel, tmp_path):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    path, calibration, x = float_cnn

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"x": c} for c in calibration])

        def get_next(self):
            return next(self.batches, None)

    qpath = tmp_path / "q.onnx"
    quantize_static(str(path), str(qpath), Reader(), quant_format=getattr(QuantFormat, fmt), per_channel=per_channel,
                    reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    op_types_to_quantize=["Conv"])
    model = onnx.load(qpath)
    ops = {n.op_type for n in model.graph.node}
    assert ("QLinearConv" in ops) == (fmt == "QOperator")
    want = run_ort(model, {"x": x})[0]
    graph = convert.from_onnx(model)
    out = tmp_path / "q.pt2"
    convert.export(graph, out)
    with torch.no_grad():
        got = torch.export.load(str(out)).module()(torch.from_numpy(x)).numpy()
    # the output is DequantizeLinear of the last integer tensor: compare in its steps
    scale = next(numpy_helper.to_array(t) for t in model.graph.initializer
                 if t.name == model.graph.node[-1].input[1]).item()
    steps = np.abs(got.astype(np.float64) - want) / scale
    assert steps.max() <= (0 if fmt == "QOperator" else 1) + 1e-3, steps.max()
    assert np.abs(want).max() > 20 * scale  # the outputs span many steps
    other = run_torch(graph, {"x": x[::-1].copy()})[0]
    assert np.abs(other - want).max() > 5 * scale
