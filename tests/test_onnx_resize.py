"""ONNX Resize in every mode, through ONNX -> IR -> PyTorch: the modes F.interpolate cannot
express become index or weight-matrix buffers; each is compared with the ONNX reference
implementation (onnx.reference) on a random input, at a dynamic batch size."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import convert
from helpers import assert_close

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

RTOL, ATOL = 1e-5, 1e-5
SHAPE = (2, 3, 5, 7)


def _model(scales=None, sizes=None, roi=None, **attrs):
    inits = [numpy_helper.from_array(np.array(roi if roi is not None else [], np.float32), "roi")]
    names = ["x", "roi"]
    if scales is not None:
        inits.append(numpy_helper.from_array(np.array(scales, np.float32), "scales"))
        names.append("scales")
    else:
        inits.append(numpy_helper.from_array(np.array(sizes, np.int64), "sizes"))
        names += ["", "sizes"]
    node = helper.make_node("Resize", names, ["y"], **attrs)
    g = helper.make_graph([node], "resize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *SHAPE[1:]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)])


def _x(batch: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, *SHAPE[1:])).astype(np.float32)


def _check(model, batch: int = 3):
    graph = convert.from_onnx(model)
    module = convert.to_torch(graph)
    x = _x(batch, 1)
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    with torch.no_grad():
        got = module(torch.from_numpy(x)).numpy()
        other = module(torch.from_numpy(_x(batch, 2))).numpy()
    assert_close(got, want, RTOL, ATOL, "Resize -> torch")
    assert np.abs(other - want).max() > 100 * ATOL  # another input moves the output
    return graph


NEAREST = list(itertools.product(
    ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"],
    ["half_pixel", "align_corners", "asymmetric", "half_pixel_symmetric",
     "pytorch_half_pixel"],
    [dict(scales=[1, 1, 1.7, 2.3]), dict(scales=[1, 1, 0.55, 0.45]), dict(sizes=[7, 4], axes=[2, 3])]))


@pytest.mark.parametrize("rule,ctm,target", NEAREST, ids=lambda v: str(v))
def test_nearest(rule, ctm, target):
    _check(_model(mode="nearest", nearest_mode=rule, coordinate_transformation_mode=ctm, **target))


SMOOTH = [
    dict(mode="linear", coordinate_transformation_mode="half_pixel_symmetric", scales=[1, 1, 1.5, 0.7]),
    dict(mode="linear", coordinate_transformation_mode="asymmetric", scales=[1, 1, 2.0, 1.5]),
    dict(mode="linear", antialias=1, scales=[1, 1, 0.6, 0.5]),
    dict(mode="linear", antialias=1, coordinate_transformation_mode="align_corners", sizes=[3, 3], axes=[2, 3]),
    dict(mode="cubic", cubic_coeff_a=-0.5, scales=[1, 1, 1.6, 0.6]),
    dict(mode="cubic", cubic_coeff_a=-0.5, exclude_outside=1, scales=[1, 1, 1.6, 0.6]),
    dict(mode="cubic", antialias=1, scales=[1, 1, 0.6, 0.45]),
    dict(mode="cubic", coordinate_transformation_mode="asymmetric", scales=[1, 1, 2.0, 1.5]),
    dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel", sizes=[1, 4], axes=[2, 3]),
    dict(mode="linear", scales=[1, 2.0, 1.0, 1.0]),  # the channel axis
]


@pytest.mark.parametrize("attrs", SMOOTH, ids=lambda a: "-".join(f"{k}={v}" for k, v in a.items()))
def test_linear_and_cubic(attrs):
    _check(_model(**attrs))


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_tf_crop_and_resize(mode):
    roi = [0.2, 0.1, 1.3, 0.8]  # the H window runs past the input: extrapolated
    graph = _check(_model(mode=mode, coordinate_transformation_mode="tf_crop_and_resize", roi=roi, axes=[2, 3],
                          extrapolation_value=-3.0, sizes=[4, 6]))
    assert any(n.attrs.get("roi") for n in graph.nodes)


def test_interpolate_kept_where_exact():
    """The usual upsampling stays a readable F.interpolate call."""
    from convert.exporters.torch import generate

    graph = _check(_model(mode="linear", scales=[1, 1, 2.0, 2.0]))
    assert "F.interpolate(" in generate(graph).source
    graph = _check(_model(mode="nearest", nearest_mode="round_prefer_ceil", scales=[1, 1, 2.0, 2.0]))
    src = generate(graph).source
    assert "F.interpolate(" not in src and "torch.index_select(" in src


def test_keep_aspect_ratio():
    _check(_model(mode="linear", sizes=[10, 30], axes=[2, 3], keep_aspect_ratio_policy="not_larger"))
