"""ONNX ops read into new IR ops: CumProd (opset 26), BitCast (26), AffineGrid (20) and
RotaryEmbedding (23), written to PyTorch and back to ONNX (natively, or decomposed
below the op's opset); and PyTorch forms of TopK with ties, ReduceProd over several axes
and ScatterND reductions with repeated indices. Compared with onnxruntime running the
source model."""
from __future__ import annotations

import numpy as np
import pytest

import convert
from convert.errors import UnsupportedAttributeError, UnsupportedError

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

RTOL, ATOL = 1e-5, 1e-6


def _model(op: str, inputs: dict, consts: dict, opset: int, out_type: int | None = None, **attrs):
    """One node on graph inputs ``inputs`` (name -> array) and initializers ``consts``; the
    output has the first input's element type unless ``out_type`` is given."""
    node = helper.make_node(op, [*inputs, *consts], ["y"], **attrs)
    vis = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))
           for k, v in inputs.items()]
    out_type = out_type or vis[0].type.tensor_type.elem_type
    g = helper.make_graph([node], "m", vis, [helper.make_tensor_value_info("y", out_type, None)],
                          initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _ort(model, feeds: dict):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def _torch(graph, feeds: dict):
    with torch.no_grad():
        return convert.to_torch(graph)(*[torch.from_numpy(v) for v in feeds.values()]).numpy()


def _check(model, feeds: dict, other: dict, opsets=(), rtol=RTOL, atol=ATOL):
    want = _ort(model, feeds)
    graph = convert.from_onnx(model)
    got = _torch(graph, feeds)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol, atol)
    for opset in opsets:
        np.testing.assert_allclose(_ort(convert.to_onnx(graph, opset), feeds), want, rtol, atol)
    # another input moves the output far past the tolerance: the comparison can fail
    assert np.abs(_torch(graph, other).astype(np.float64) - want).max() > 1000 * atol
    return graph


@pytest.mark.parametrize("dtype,exclusive,reverse,axis", [
    ("float32", 0, 0, 1), ("float32", 1, 0, -3), ("float32", 0, 1, 0), ("float32", 1, 1, 1),
    ("int32", 1, 1, -2), ("int64", 1, 0, 2)])
def test_cumprod(dtype, exclusive, reverse, axis):
    rng = np.random.default_rng(0)
    x = (rng.integers(-3, 4, (3, 4, 2)) if dtype != "float32" else rng.uniform(-1.5, 1.5, (3, 4, 2))).astype(dtype)
    x[1, 2, 0] = 0  # a zero: exclusive products must not divide
    other = np.roll(x, 1, axis=1) + np.asarray(1, dtype)
    graph = _check(_model("CumProd", {"x": x}, {"axis": np.array(axis)}, 26, exclusive=exclusive,
                          reverse=reverse), {"x": x}, {"x": other}, opsets=(26,))
    with pytest.raises(UnsupportedError, match="needs opset >= 26"):
        convert.to_onnx(graph, 17)


@pytest.mark.parametrize("src,via,dst", [
    ("float32", "float32", TensorProto.INT32), ("int32", "float32", TensorProto.FLOAT),
    ("float64", "float64", TensorProto.INT64), ("int8", "int8", TensorProto.UINT8)])
def test_bitcast(src, via, dst):
    """Bit patterns of normal numbers (ints that would read as denormal floats are avoided);
    results compared bit for bit."""
    rng = np.random.default_rng(1)
    x, other = ((rng.standard_normal((2, 3)) * 50).astype(via).view(src) for _ in range(2))
    model = _model("BitCast", {"x": x}, {}, 26, out_type=dst, to=dst)
    want = _ort(model, {"x": x})
    graph = convert.from_onnx(model)
    got = _torch(graph, {"x": x})
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes() == x.tobytes()
    assert _ort(convert.to_onnx(graph, 26), {"x": x}).tobytes() == want.tobytes()
    assert _torch(graph, {"x": other}).tobytes() != want.tobytes()


def test_bitcast_of_another_width_is_refused():
    x = np.zeros((2,), np.float32)
    with pytest.raises(UnsupportedError, match="BitCast"):
        convert.from_onnx(_model("BitCast", {"x": x}, {}, 26, out_type=TensorProto.INT64, to=TensorProto.INT64))


@pytest.mark.parametrize("size,align", [((2, 3, 4, 5), 0), ((2, 3, 4, 5), 1), ((2, 1, 3, 4, 5), 0),
                                        ((1, 2, 2, 3, 4), 1)])
def test_affine_grid(size, align):
    nd = len(size) - 2
    rng = np.random.default_rng(2)
    theta = rng.standard_normal((size[0], nd, nd + 1)).astype(np.float32)
    other = rng.standard_normal(theta.shape).astype(np.float32)
    _check(_model("AffineGrid", {"theta": theta}, {"size": np.array(size)}, 20, align_corners=align),
           {"theta": theta}, {"theta": other}, opsets=(17, 20))


def test_affine_grid_undefined_corner_case_is_refused():
    theta = np.zeros((1, 2, 3), np.float32)
    with pytest.raises(UnsupportedError, match="align_corners"):
        convert.from_onnx(_model("AffineGrid", {"theta": theta}, {"size": np.array([1, 1, 1, 4])}, 20,
                                 align_corners=1))


ROTARY = {
    "4d_positions": dict(x=(2, 3, 5, 8), pos=True),
    "4d_interleaved_partial": dict(x=(2, 3, 5, 8), pos=True, interleaved=1, rotary_embedding_dim=4),
    "3d_heads_no_positions": dict(x=(2, 5, 12), pos=False, num_heads=2),
    "3d_interleaved_partial_no_positions": dict(x=(2, 5, 12), pos=False, num_heads=3, interleaved=1,
                                                rotary_embedding_dim=2),
}


@pytest.mark.parametrize("case", sorted(ROTARY))
def test_rotary_embedding(case):
    spec = dict(ROTARY[case])
    shape, with_pos = spec.pop("x"), spec.pop("pos")
    rng = np.random.default_rng(3)
    head = shape[-1] // spec.get("num_heads", 1) if len(shape) == 3 else shape[-1]
    half = (spec.get("rotary_embedding_dim") or head) // 2
    seq = shape[1] if len(shape) == 3 else shape[2]
    angles = rng.uniform(0, 6, (11, half) if with_pos else (shape[0], seq, half))
    consts = {"cos": np.cos(angles).astype(np.float32), "sin": np.sin(angles).astype(np.float32)}
    if with_pos:
        consts["pos"] = rng.integers(0, 11, (shape[0], seq))
    x = rng.standard_normal(shape).astype(np.float32)
    other = rng.standard_normal(shape).astype(np.float32)
    _check(_model("RotaryEmbedding", {"x": x}, consts, 23, **spec), {"x": x}, {"x": other}, opsets=(23,))


def test_new_ops_refused_by_name_by_keras():
    x = np.ones((2, 3), np.float32)
    graph = convert.from_onnx(_model("CumProd", {"x": x}, {"axis": np.array(1)}, 26))
    with pytest.raises(UnsupportedError, match="CumProd"):
        convert.to_keras(graph)


def test_topk_ties_come_lowest_index_first():
    x = np.array([[3, 1, 3, 2, 1, 3], [0, 0, 5, 5, 0, 1]], np.float32)
    for largest in (1, 0):
        model = _model("TopK", {"x": x}, {"k": np.array([3])}, 11, largest=largest, axis=1)
        node = model.graph.node[0]
        node.output.append("i")
        model.graph.output.append(helper.make_tensor_value_info("i", TensorProto.INT64, None))
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        want = sess.run(None, {"x": x})
        with torch.no_grad():
            got = convert.to_torch(convert.from_onnx(model))(torch.from_numpy(x))
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.numpy(), w)


@pytest.mark.parametrize("axes,keep", [(None, 1), (None, 0), ([0, 2], 1), ([-1, 1], 0)])
def test_reduce_prod_over_several_axes(axes, keep):
    rng = np.random.default_rng(4)
    x = rng.uniform(0.5, 1.5, (2, 3, 4)).astype(np.float32)
    consts = {} if axes is None else {"axes": np.array(axes)}
    _check(_model("ReduceProd", {"x": x}, consts, 18, keepdims=keep), {"x": x},
           {"x": rng.uniform(0.5, 1.5, x.shape).astype(np.float32)}, opsets=(18,))


@pytest.mark.parametrize("reduction", ["mul", "max", "min"])
def test_scatter_nd_reduction_with_repeated_indices(reduction):
    rng = np.random.default_rng(5)
    data = rng.standard_normal((3, 4, 2)).astype(np.float32)
    updates = rng.standard_normal((4, 2)).astype(np.float32)
    idx = np.array([[0, 1], [2, -1], [0, 1], [1, 0]])  # (0, 1) twice; a negative index
    model = _model("ScatterND", {"data": data, "updates": updates}, {}, 18, reduction=reduction)
    model.graph.node[0].input[:] = ["data", "idx", "updates"]
    model.graph.initializer.append(numpy_helper.from_array(idx, "idx"))
    feeds = {"data": data, "updates": updates}
    _check(model, feeds, {"data": data, "updates": updates[::-1].copy()}, opsets=(18,))


@pytest.mark.parametrize("direction,layout,initial", [("forward", 0, False), ("reverse", 0, True),
                                                      ("bidirectional", 0, True)])
def test_gru_reset_before_matmul_and_reverse(direction, layout, initial, tmp_path):
    """linear_before_reset=0 (ONNX's default) as a time loop; direction='reverse'; also
    through torch.export (.pt2)."""
    rng = np.random.default_rng(6)
    dirs, hidden, seq, batch, feat = (2 if direction == "bidirectional" else 1), 3, 4, 2, 5
    consts = {"W": rng.standard_normal((dirs, 3 * hidden, feat)).astype(np.float32),
              "R": rng.standard_normal((dirs, 3 * hidden, hidden)).astype(np.float32),
              "B": rng.standard_normal((dirs, 6 * hidden)).astype(np.float32)}
    if initial:
        consts["seq_lens"] = np.full((batch,), seq, np.int32)
        h0_shape = (dirs, batch, hidden) if layout == 0 else (batch, dirs, hidden)
        consts["h0"] = rng.standard_normal(h0_shape).astype(np.float32)
    x_shape = (seq, batch, feat) if layout == 0 else (batch, seq, feat)
    x, other = (rng.standard_normal(x_shape).astype(np.float32) for _ in range(2))
    model = _model("GRU", {"x": x}, consts, 14, hidden_size=hidden, direction=direction, layout=layout)
    if initial:  # the full-length sequence_lens input is left out: torch layers take full sequences
        model.graph.node[0].input[4] = ""
    graph = _check(model, {"x": x}, {"x": other}, atol=1e-5)
    if direction == "bidirectional":
        path = tmp_path / "gru.pt2"
        convert.export(graph, path)
        with torch.no_grad():
            got = torch.export.load(str(path)).module()(torch.from_numpy(x))
        np.testing.assert_allclose(got.numpy(), _ort(model, {"x": x}), RTOL, 1e-5)


@pytest.mark.parametrize("starts,ends,axes,steps", [
    ([-1], [-(2**63)], [1], [-1]),                    # the whole axis reversed
    ([20, 0, 3], [-30, 2, 0], [0, 1, 2], [-2, 1, -2]),  # out-of-range bounds clamp
    ([3], [-5], [-1], [-3]),
])
def test_slice_with_negative_steps(starts, ends, axes, steps):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 5, 6)).astype(np.float32)
    consts = {k: np.array(v) for k, v in zip(("starts", "ends", "axes", "steps"), (starts, ends, axes, steps))}
    _check(_model("Slice", {"x": x}, consts, 13), {"x": x}, {"x": rng.standard_normal(x.shape).astype(np.float32)},
           opsets=(13,))


def test_reshape_allowzero_keeps_a_zero_sized_dimension():
    x = np.zeros((0, 3, 4), np.float32)
    model = _model("Reshape", {"x": x}, {"shape": np.array([3, 4, 0])}, 14, allowzero=1)
    got = _torch(convert.from_onnx(model), {"x": x})
    assert got.shape == _ort(model, {"x": x}).shape == (3, 4, 0)


@pytest.mark.parametrize("k,bias,past,activation", [(3, True, True, "silu"), (4, False, False, "none"),
                                                    (1, True, False, "swish"), (2, False, True, "none")])
def test_causal_conv_with_state(k, bias, past, activation):
    """Opset 27's fused op read as Concat/Pad + depthwise Conv (+ SiLU) + Slice; both outputs."""
    rng = np.random.default_rng(8)
    batch, channels, length = 2, 3, 5
    x, other = (rng.standard_normal((batch, channels, length)).astype(np.float32) for _ in range(2))
    consts = {"w": rng.standard_normal((channels, 1, k)).astype(np.float32)}
    if bias:
        consts["b"] = rng.standard_normal((channels,)).astype(np.float32)
    inputs = {"x": x}
    if past:
        inputs["past"] = rng.standard_normal((batch, channels, k - 1)).astype(np.float32)
    model = _model("CausalConvWithState", inputs, consts, 27, activation=activation)
    node = model.graph.node[0]
    node.input[:] = ["x", "w", "b" if bias else "", "past" if past else ""]
    node.output.append("state")
    model.graph.output.append(helper.make_tensor_value_info("state", TensorProto.FLOAT, None))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, inputs)
    module = convert.to_torch(convert.from_onnx(model))
    with torch.no_grad():
        got = module(*[torch.from_numpy(v) for v in inputs.values()])
        moved = module(*[torch.from_numpy(v) for v in {**inputs, "x": other}.values()])
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g.numpy(), w, RTOL, 1e-5)
    assert np.abs(moved[0].numpy() - want[0]).max() > 1e-2


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin"])
def test_reduce_max_min_over_an_empty_axis_is_the_identity(op):
    x = np.zeros((2, 0, 4), np.float32)
    model = _model(op, {"x": x}, {"axes": np.array([1])}, 18, keepdims=1)
    got = _torch(convert.from_onnx(model), {"x": x})
    want = _ort(model, {"x": x})
    assert got.shape == want.shape == (2, 1, 4)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("rule,hq,hkv,past,per_key_decay", [
    ("linear", 2, 2, False, False), ("gated", 4, 2, True, True), ("delta", 2, 1, True, False),
    ("gated_delta", 4, 2, False, False)])
def test_linear_attention(rule, hq, hkv, past, per_key_decay):
    """Opset 27's LinearAttention as its time loop; both outputs against onnxruntime."""
    rng = np.random.default_rng(9)
    b, t, dk, dv = 2, 3, 4, 5
    inputs = {"q": rng.standard_normal((b, t, hq * dk)).astype(np.float32),
              "k": rng.standard_normal((b, t, hkv * dk)).astype(np.float32),
              "v": rng.standard_normal((b, t, hkv * dv)).astype(np.float32)}
    names = ["q", "k", "v", "", "", ""]
    if past:
        inputs["past"], names[3] = rng.standard_normal((b, hkv, dk, dv)).astype(np.float32), "past"
    if rule in ("gated", "gated_delta"):
        width = hkv * dk if per_key_decay else hkv
        inputs["decay"], names[4] = -rng.uniform(0.05, 0.5, (b, t, width)).astype(np.float32), "decay"
    if rule in ("delta", "gated_delta"):
        inputs["beta"], names[5] = rng.uniform(0.2, 0.9, (b, t, hkv)).astype(np.float32), "beta"
    model = _model("LinearAttention", inputs, {}, 27, q_num_heads=hq, kv_num_heads=hkv, update_rule=rule)
    node = model.graph.node[0]
    node.input[:] = names
    node.output.append("state")
    model.graph.output.append(helper.make_tensor_value_info("state", TensorProto.FLOAT, None))
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, inputs)
    module = convert.to_torch(convert.from_onnx(model))
    with torch.no_grad():
        got = module(*[torch.from_numpy(v) for v in inputs.values()])
        moved = module(*[torch.from_numpy(v) for v in {**inputs, "k": inputs["k"][:, ::-1].copy()}.values()])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w, 1e-4, 1e-5)
    assert np.abs(moved[0].numpy() - want[0]).max() > 1e-2


@pytest.mark.parametrize("attrs", [{}, {"strides": [2, 1], "pads": [1, 0, 1, 0], "dilations": [1, 2]}])
def test_col2im(attrs):
    rng = np.random.default_rng(10)
    image, block = [5, 6], [2, 3]
    strides, dil = attrs.get("strides", [1, 1]), attrs.get("dilations", [1, 1])
    pads = attrs.get("pads", [0, 0, 0, 0])
    blocks = [(image[i] + pads[i] + pads[i + 2] - dil[i] * (block[i] - 1) - 1) // strides[i] + 1 for i in range(2)]
    x, other = (rng.standard_normal((2, 3 * 6, blocks[0] * blocks[1])).astype(np.float32) for _ in range(2))
    model = _model("Col2Im", {"x": x}, {"image": np.array(image), "block": np.array(block)}, 18, **attrs)
    _check(model, {"x": x}, {"x": other}, opsets=(18,))


def test_det():
    rng = np.random.default_rng(11)
    x, other = (rng.standard_normal((2, 3, 3)).astype(np.float32) for _ in range(2))
    _check(_model("Det", {"x": x}, {}, 13), {"x": x}, {"x": other}, opsets=(13,), atol=1e-5)


@pytest.mark.parametrize("time_axis,batch_axis", [(0, 1), (1, 0)])
def test_reverse_sequence(time_axis, batch_axis):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((4, 3, 2) if time_axis == 0 else (3, 4, 2)).astype(np.float32)
    lens = np.array([4, 1, 3], np.int64)
    model = _model("ReverseSequence", {"x": x, "lens": lens}, {}, 13, time_axis=time_axis, batch_axis=batch_axis)
    _check(model, {"x": x, "lens": lens}, {"x": x, "lens": np.array([2, 3, 1], np.int64)}, opsets=(13,))


def test_prelu_slope_broadcast_from_the_last_axis():
    rng = np.random.default_rng(13)
    x, other = (rng.standard_normal((2, 4, 5)).astype(np.float32) for _ in range(2))
    _check(_model("PRelu", {"x": x}, {"slope": rng.uniform(0.1, 0.9, (5,)).astype(np.float32)}, 13),
           {"x": x}, {"x": other}, opsets=(13,))


def test_gather_with_negative_indices():
    rng = np.random.default_rng(14)
    x, other = (rng.standard_normal((3, 5, 2)).astype(np.float32) for _ in range(2))
    idx = np.array([[0, -1], [-5, 2]], np.int64)
    _check(_model("Gather", {"x": x}, {"idx": idx}, 13, axis=1), {"x": x}, {"x": other}, opsets=(13,))
    runtime = _model("Gather", {"x": x, "i": idx}, {}, 13, axis=-2)
    _check(runtime, {"x": x, "i": idx}, {"x": other, "i": idx}, opsets=(13,))


def test_gather_nd_with_a_batch_axis():
    rng = np.random.default_rng(15)
    x, other = (rng.standard_normal((2, 3, 4, 2)).astype(np.float32) for _ in range(2))
    idx = np.array([[[0, 1], [2, 3]], [[1, 0], [0, 2]]], np.int64)  # (B, 2, 2): (row, col) of data[b]
    _check(_model("GatherND", {"x": x}, {"idx": idx}, 13, batch_dims=1), {"x": x}, {"x": other}, opsets=(13,))
