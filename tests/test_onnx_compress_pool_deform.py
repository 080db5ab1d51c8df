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
from onnx_run import assert_same, run_ort, run_torch, single_node  # noqa: E402


def _dynamic_batch(model):
    """Every graph input's axis 0 becomes the named dimension ``batch``."""
    for vi in model.graph.input:
        vi.type.tensor_type.shape.dim[0].dim_param = "batch"
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


def _pt2(graph, feeds: dict, tmp_path) -> list:
    """The graph written as a ``.pt2`` and run by torch.export.load at batch 1 (written at 2)."""
    path = tmp_path / "model.pt2"
    convert.export(graph, path)
    with torch.no_grad():
        out = torch.export.load(str(path)).module()(*[torch.from_numpy(v[:1].copy()) for v in feeds.values()])
    return [o.numpy() for o in (out if isinstance(out, (tuple, list)) else [out])]


def _both_ways(model, feeds: dict, other: dict, opset: int = 17) -> None:
    """Exact against onnxruntime to torch and through the ONNX round trip; ``other``
    changes every output."""
    want = run_ort(model, feeds)
    graph = convert.from_onnx(model)
    assert_same(run_torch(graph, feeds), want)
    assert_same(run_ort(convert.to_onnx(graph, opset), feeds), want)
    moved = run_torch(graph, other)
    assert all(not (m.shape == w.shape and np.array_equal(m, w)) for m, w in zip(moved, want))


MAXPOOL_CASES = {
    "2d-pads-strides": ((2, 3, 7, 6), dict(kernel_shape=[3, 2], strides=[2, 1], pads=[1, 1, 1, 1])),
    "2d-dilations-ceil": ((1, 2, 9, 8), dict(kernel_shape=[2, 3], dilations=[2, 1], strides=[2, 2], ceil_mode=1)),
    "2d-column-major": ((2, 2, 5, 7), dict(kernel_shape=[2, 2], strides=[2, 2], storage_order=1)),
    "1d": ((3, 2, 9), dict(kernel_shape=[3], strides=[2], pads=[1, 1])),
    "3d": ((1, 2, 4, 5, 3), dict(kernel_shape=[2, 2, 2], strides=[1, 2, 1])),
}


@pytest.mark.parametrize("case", list(MAXPOOL_CASES))
def test_maxpool_indices(case, tmp_path):
    shape, attrs = MAXPOOL_CASES[case]
    rng = np.random.default_rng(sorted(MAXPOOL_CASES).index(case))
    x, other = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))
    model = _dynamic_batch(single_node("MaxPool", {"x": x}, {}, [np.float32, np.int64], opset=12, **attrs))
    _both_ways(model, {"x": x}, {"x": other})
    want = run_ort(model, {"x": x[:1].copy()})
    assert_same(run_torch(convert.from_onnx(model), {"x": x[:1].copy()}), want)
    if case == "2d-pads-strides":
        assert_same(_pt2(convert.from_onnx(model), {"x": x}, tmp_path), want)


def test_maxpool_indices_with_padding_torch_cannot_hold_is_refused():
    x = np.ones((1, 1, 5, 5), np.float32)
    model = single_node("MaxPool", {"x": x}, {}, [np.float32, np.int64], opset=12, kernel_shape=[2, 2],
                        pads=[1, 0, 0, 1])
    with pytest.raises(convert.UnsupportedError, match="pads"):
        convert.to_torch(convert.from_onnx(model))


@pytest.mark.parametrize("axis,constant", [(1, True), (None, False), (-1, False)])
def test_compress(axis, constant):
    rng = np.random.default_rng(3)
    x, other = (rng.standard_normal((3, 5, 4)).astype(np.float32) for _ in range(2))
    # as long as axis 1; shorter than the last axis and than the flattened input
    cond = np.array([1, 0, 1, 1, 0][:5 if axis == 1 else 3], bool)
    feeds = {"x": x} if constant else {"x": x, "cond": cond}
    consts = {"cond": cond} if constant else {}
    attrs = {} if axis is None else {"axis": axis}
    model = single_node("Compress", feeds, consts, [np.float32], opset=11, **attrs)
    other_feeds = {"x": other} if constant else {"x": other, "cond": ~cond}
    _both_ways(model, feeds, other_feeds)


DEFORM_CASES = {
    # (x shape, W shape, attributes, with mask, with bias)
    "mask-bias-offset-groups": ((2, 4, 6, 5), (6, 4, 3, 3), dict(offset_group=2, pads=[1, 1, 1, 1]), True, True),
    "groups-strides-dilations-asym-pads": ((1, 4, 7, 8), (4, 2, 2, 3),
                                           dict(group=2, strides=[2, 1], dilations=[1, 2], pads=[1, 0, 0, 2]),
                                           False, False),
}


def _deform_model(case, rng):
    xs, ws, attrs, mask, bias = DEFORM_CASES[case]
    kh, kw = ws[2:]
    pads = attrs.get("pads", [0, 0, 0, 0])
    st, dl = attrs.get("strides", [1, 1]), attrs.get("dilations", [1, 1])
    out = [(xs[2 + a] + pads[a] + pads[a + 2] - (ws[2 + a] - 1) * dl[a] - 1) // st[a] + 1 for a in (0, 1)]
    og = attrs.get("offset_group", 1)
    feeds = {"x": rng.standard_normal(xs).astype(np.float32),
             "offset": (1.5 * rng.standard_normal((xs[0], og * kh * kw * 2, *out))).astype(np.float32)}
    if mask:
        feeds["mask"] = rng.uniform(0, 1, (xs[0], og * kh * kw, *out)).astype(np.float32)
    consts = {"w": rng.standard_normal(ws).astype(np.float32)}
    if bias:
        consts["b"] = rng.standard_normal(ws[0]).astype(np.float32)
    order = ["x", "w", "offset", "b" if bias else "", "mask" if mask else ""]
    while not order[-1]:
        order.pop()
    model = single_node("DeformConv", feeds, consts, [np.float32], opset=19, order=order, kernel_shape=[kh, kw],
                        **attrs)
    return _dynamic_batch(model), feeds


@pytest.mark.parametrize("case", list(DEFORM_CASES))
def test_deform_conv(case, tmp_path):
    rng = np.random.default_rng(sorted(DEFORM_CASES).index(case))
    model, feeds = _deform_model(case, rng)
    want = run_ort(model, feeds)[0]
    graph = convert.from_onnx(model)
    tol = dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run_torch(graph, feeds)[0], want, **tol)
    np.testing.assert_allclose(run_ort(convert.to_onnx(graph, 19), feeds)[0], want, **tol)
    if case == "mask-bias-offset-groups":  # one .pt2 (torch.export) per module keeps it cheap
        np.testing.assert_allclose(_pt2(graph, feeds, tmp_path)[0],
                                   run_ort(model, {k: v[:1] for k, v in feeds.items()})[0], **tol)
    with pytest.raises(convert.UnsupportedError, match="19"):
        convert.to_onnx(graph, 18)
    moved = run_torch(graph, {**feeds, "offset": -feeds["offset"]})[0]
    assert np.abs(moved - want).max() > 0.1
    w = graph.weights["w"].copy()
    w.flat[w.size // 2] *= 1.01
    graph.weights["w"] = w
    changed = run_torch(graph, feeds)[0]
    assert np.abs(changed - want).max() > 100 * tol["atol"]


def test_deform_conv_without_offset_groups_is_refused():
    rng = np.random.default_rng(9)
    model, _ = _deform_model("mask-bias-offset-groups", rng)
    next(a for a in model.graph.node[0].attribute if a.name == "offset_group").i = 0
    with pytest.raises(convert.UnsupportedError, match="offset_group"):
        convert.from_onnx(model)
