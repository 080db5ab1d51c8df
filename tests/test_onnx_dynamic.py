"""NonZero, Unique and NonMaxSuppression (outputs sized by the data) from ONNX to PyTorch
and back to ONNX, compared with onnxruntime running the source model."""
from __future__ import annotations

import numpy as np
import pytest

import convert

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx_run import run_ort as _ort, run_torch as _torch, assert_same as _same  # noqa: E402


def _model(node, inputs, out_types, inits=(), opset: int = 17):
    g = helper.make_graph([node], node.op_type, inputs,
                          [helper.make_tensor_value_info(o, t, None) for o, t in zip(node.output, out_types)],
                          initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _check(model, feeds, other):
    """Torch and the ONNX round trip equal onnxruntime; another input changes the result."""
    want = _ort(model, feeds)
    graph = convert.from_onnx(model)
    _same(_torch(graph, feeds), want)
    _same(_ort(convert.to_onnx(graph), feeds), want)
    moved = _torch(graph, other)
    assert any(m.shape != w.shape or not np.array_equal(m, w) for m, w in zip(moved, want))
    return graph


def test_nonzero_size_is_unknown_in_the_ir():
    rng = np.random.default_rng(0)
    x = rng.integers(-2, 3, (3, 4, 5)).astype(np.float32)
    model = _model(helper.make_node("NonZero", ["x"], ["y"]),
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4, 5])], [TensorProto.INT64])
    graph = _check(model, {"x": x}, {"x": np.roll(x, 1, axis=2)})
    from convert.runtime.shapes import infer_shapes

    y = graph.outputs[0].name
    assert infer_shapes(graph)[y][0] == 3 and not isinstance(infer_shapes(graph)[y][1], int)


UNIQUE = [(1, None), (0, None), (1, 0), (0, 0), (1, -1), (0, 1)]


@pytest.mark.parametrize("sorted_,axis", UNIQUE, ids=[f"sorted{s}-axis{a}" for s, a in UNIQUE])
def test_unique_all_four_outputs(sorted_, axis):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, (6, 4)).astype(np.float32)
    x[4] = x[1]  # a repeated row and repeated columns for the axis cases
    x[:, 3] = x[:, 0]
    attrs = {"sorted": sorted_} if axis is None else {"sorted": sorted_, "axis": axis}
    node = helper.make_node("Unique", ["x"], ["y", "indices", "inverse", "counts"], **attrs)
    model = _model(node, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6, 4])],
                   [TensorProto.FLOAT] + [TensorProto.INT64] * 3)
    _check(model, {"x": x}, {"x": x[::-1].copy()})


NMS = [  # center_point_box, max boxes per class, iou threshold, score threshold
    (0, 3, 0.4, None), (0, 10, 0.2, 0.3), (1, 2, 0.25, 0.1), (1, 10, 0.0, None), (0, 0, 0.5, None)]


def _boxes(rng, n: int, center: int) -> np.ndarray:
    c = rng.uniform(0, 1.5, (2, n, 2)).astype(np.float32)  # crowded: boxes overlap
    wh = rng.uniform(0.5, 2.5, (2, n, 2)).astype(np.float32)
    if center:
        return np.concatenate([c, wh], -1)
    corners = np.concatenate([c - wh / 2, c + wh / 2], -1)[..., [1, 0, 3, 2]]  # [y1, x1, y2, x2]
    flip = rng.random((2, n)) < 0.3  # some boxes with their corners swapped
    corners[flip] = corners[flip][:, [2, 3, 0, 1]]
    return corners


@pytest.mark.parametrize("center,max_out,iou,score", NMS, ids=[f"c{c}-max{m}-iou{i}-score{s}" for c, m, i, s in NMS])
def test_nms_matches_onnxruntime(center, max_out, iou, score):
    rng = np.random.default_rng(2)
    n = 10
    boxes, scores = _boxes(rng, n, center), rng.random((2, 3, n)).astype(np.float32)
    scores[0, 1, 4] = scores[0, 1, 7]  # a tie: the lower box index goes first
    inits = [numpy_helper.from_array(np.array([max_out], np.int64), "max"),
             numpy_helper.from_array(np.array([iou], np.float32), "iou")]
    names = ["boxes", "scores", "max", "iou"]
    if score is not None:
        inits.append(numpy_helper.from_array(np.array([score], np.float32), "score"))
        names.append("score")
    node = helper.make_node("NonMaxSuppression", names, ["selected"], center_point_box=center)
    model = _model(node, [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [2, n, 4]),
                          helper.make_tensor_value_info("scores", TensorProto.FLOAT, [2, 3, n])], [TensorProto.INT64], inits)
    feeds = {"boxes": boxes, "scores": scores}
    want = _ort(model, feeds)[0]
    if max_out:  # some boxes are suppressed, or the test could not tell NMS from a sort
        top = [[b, c, i] for b in range(2) for c in range(3)
               for i in np.argsort(-scores[b, c], kind="stable")[:max_out] if score is None or scores[b, c, i] > score]
        assert len(want) and not np.array_equal(want, np.array(top).reshape(-1, 3))
        _check(model, feeds, {"boxes": boxes, "scores": scores[:, :, ::-1].copy()})
    else:
        assert len(want) == 0
        _same(_torch(convert.from_onnx(model), feeds), [want])


@pytest.mark.parametrize("op", ["NonZero", "Unique"])
def test_targets_without_dynamic_shapes_refuse_by_name(op):
    from convert.api import unsupported_by_target
    from convert.errors import UnsupportedError
    from convert.formats import FORMATS

    model = _model(helper.make_node(op, ["x"], ["y"]), [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                   [TensorProto.INT64 if op == "NonZero" else TensorProto.FLOAT])
    graph = convert.from_onnx(model)
    for fmt in ("keras", "caffe"):
        with pytest.raises(UnsupportedError, match=op):
            unsupported_by_target(graph, FORMATS[fmt])
