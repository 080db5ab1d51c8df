"""DeformConv (ONNX opset 19) with 1 and 3 spatial axes to PyTorch, ``.pt2`` and back to ONNX.

onnxruntime and ONNX's reference implementation run 2-D DeformConv only, so the oracles are
(1) onnxruntime on the same convolution with one more axis of size 1 (kernel 1, offset 0:
exactly the lower-rank result), for 1-D sources and for 3-D models lifted from 2-D ones,
and (2) a loop-per-sample numpy reference of the ONNX spec for general 3-D, itself checked
against onnxruntime in 2-D. Each case checks that other offsets and a 1% change to a middle
weight move the result far past the tolerance."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import convert

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx_run import run_ort, run_torch, single_node  # noqa: E402

TOL = dict(rtol=1e-5, atol=1e-5)

CASES = {
    # (x shape, W shape, attributes, with mask, with bias)
    "1d-mask-bias-offset-groups": ((2, 4, 9), (6, 4, 3), dict(offset_group=2, pads=[1, 2]), True, True),
    "1d-groups-strides-dilations": ((3, 6, 11), (4, 3, 2),
                                    dict(group=2, offset_group=3, strides=[2], dilations=[3], pads=[2, 0]),
                                    False, False),
    "2d-mask-strides": ((2, 2, 5, 6), (3, 2, 2, 3), dict(strides=[1, 2], pads=[1, 0, 0, 1]), True, True),
    "3d-mask-bias-groups-offset-groups": ((2, 4, 4, 5, 3), (6, 2, 2, 3, 2),
                                          dict(group=2, offset_group=2, pads=[1, 0, 1, 0, 1, 1]), True, True),
    "3d-strides-dilations-pads": ((1, 3, 6, 5, 7), (2, 3, 2, 2, 3),
                                  dict(strides=[2, 1, 2], dilations=[1, 2, 1], pads=[0, 1, 1, 1, 0, 2]),
                                  False, True),
}


def _case(name: str) -> tuple[dict, dict, dict]:
    """Seeded (feeds, constants, attributes) of a case; offsets of a few pixels so that
    samples fall between pixels and outside the input."""
    xs, ws, attrs, mask, bias = CASES[name]
    rng = np.random.default_rng(sorted(CASES).index(name))
    nd = len(ws) - 2
    pads = attrs.get("pads", [0] * 2 * nd)
    st, dl = attrs.get("strides", [1] * nd), attrs.get("dilations", [1] * nd)
    out = [(xs[2 + a] + pads[a] + pads[nd + a] - (ws[2 + a] - 1) * dl[a] - 1) // st[a] + 1 for a in range(nd)]
    og, taps = attrs.get("offset_group", 1), int(np.prod(ws[2:]))
    feeds = {"x": rng.standard_normal(xs).astype(np.float32),
             "offset": (1.5 * rng.standard_normal((xs[0], og * taps * nd, *out))).astype(np.float32)}
    if mask:
        feeds["mask"] = rng.uniform(0, 1, (xs[0], og * taps, *out)).astype(np.float32)
    consts = {"w": rng.standard_normal(ws).astype(np.float32)}
    if bias:
        consts["b"] = rng.standard_normal(ws[0]).astype(np.float32)
    return feeds, consts, {**attrs, "kernel_shape": list(ws[2:])}


def _model(feeds: dict, consts: dict, attrs: dict):
    """A one-node opset-19 model with a dynamic batch."""
    order = ["x", "w", "offset", "b" if "b" in consts else "", "mask" if "mask" in feeds else ""]
    while not order[-1]:
        order.pop()
    model = single_node("DeformConv", feeds, consts, [np.float32], opset=19, order=order, **attrs)
    for vi in model.graph.input:
        vi.type.tensor_type.shape.dim[0].dim_param = "batch"
    return model


def _lift(feeds: dict, consts: dict, attrs: dict) -> tuple[dict, dict, dict]:
    """The same convolution with a leading spatial axis of size 1: kernel 1, stride 1, no
    pads, offset 0 along it; its output is the original one with that axis added."""
    nd = len(attrs["kernel_shape"])
    off = feeds["offset"]
    n, out = off.shape[0], off.shape[2:]
    off = off.reshape(n, -1, nd, *out)
    off = np.concatenate([np.zeros_like(off[:, :, :1]), off], axis=2).reshape(n, -1, 1, *out)
    lifted = {"x": feeds["x"][:, :, None], "offset": off}
    if "mask" in feeds:
        lifted["mask"] = feeds["mask"][:, :, None]
    pads = attrs.get("pads", [0] * 2 * nd)
    new = {**attrs, "kernel_shape": [1, *attrs["kernel_shape"]], "strides": [1, *attrs.get("strides", [1] * nd)],
           "dilations": [1, *attrs.get("dilations", [1] * nd)], "pads": [0, *pads[:nd], 0, *pads[nd:]]}
    return lifted, {**consts, "w": consts["w"][:, :, None]}, new


def _reference(feeds: dict, consts: dict, attrs: dict) -> np.ndarray:
    """DeformConv as the ONNX spec states it, one sample at a time in float64: each tap at
    position * stride - pad + tap * dilation + offset, interpolated from its 2**N neighbours
    (zero outside), times the mask, summed with the weights of its group."""
    x, off, w = (a.astype(np.float64) for a in (feeds["x"], feeds["offset"], consts["w"]))
    nd, (n, c), m = x.ndim - 2, x.shape[:2], w.shape[0]
    kernel, out, size = w.shape[2:], off.shape[2:], x.shape[2:]
    group, og = attrs.get("group", 1), attrs.get("offset_group", 1)
    st, dl = attrs.get("strides", [1] * nd), attrs.get("dilations", [1] * nd)
    pads = attrs.get("pads", [0] * 2 * nd)
    taps = list(np.ndindex(*kernel))
    off = off.reshape(n, og, len(taps), nd, *out)
    mask = feeds.get("mask", np.ones((n, og * len(taps), *out))).reshape(n, og, len(taps), *out)
    cg, cog = c // group, c // og
    y = np.zeros((n, m, *out))
    for b, p in itertools.product(range(n), np.ndindex(*out)):
        cols = np.zeros((c, len(taps)))  # each input channel's sample per tap
        for t, tap in enumerate(taps):
            for g in range(og):
                at = [p[a] * st[a] - pads[a] + tap[a] * dl[a] + off[(b, g, t, a, *p)] for a in range(nd)]
                sample = np.zeros(cog)
                for corner in itertools.product((0, 1), repeat=nd):
                    idx = [int(np.floor(at[a])) + corner[a] for a in range(nd)]
                    if all(0 <= i < s for i, s in zip(idx, size)):
                        weight = np.prod([1 - abs(at[a] - idx[a]) for a in range(nd)])
                        sample += weight * x[(b, slice(g * cog, (g + 1) * cog), *idx)]
                cols[g * cog:(g + 1) * cog, t] = sample * mask[(b, g, t, *p)]
        for o in range(m):
            g = o // (m // group)
            y[(b, o, *p)] = np.sum(w[o].reshape(cg, -1) * cols[g * cg:(g + 1) * cg])
    if "b" in consts:
        y += consts["b"].reshape(1, -1, *[1] * nd)
    return y


def _oracle(name: str, feeds: dict, consts: dict, attrs: dict) -> np.ndarray:
    """onnxruntime where it runs: a 1-D case lifted to 2-D; else the numpy reference."""
    if len(attrs["kernel_shape"]) == 1:
        return run_ort(_model(*_lift(feeds, consts, attrs)), _lift(feeds, consts, attrs)[0])[0][:, :, 0]
    return _reference(feeds, consts, attrs)


def test_reference_matches_onnxruntime_in_2d():
    feeds, consts, attrs = _case("2d-mask-strides")
    want = run_ort(_model(feeds, consts, attrs), feeds)[0]
    np.testing.assert_allclose(_reference(feeds, consts, attrs), want, **TOL)
    np.testing.assert_allclose(run_torch(convert.from_onnx(_model(feeds, consts, attrs)), feeds)[0], want, **TOL)


@pytest.mark.parametrize("case", [c for c in CASES if not c.startswith("2d")])
def test_deform_conv_nd(case):
    feeds, consts, attrs = _case(case)
    want = _oracle(case, feeds, consts, attrs)
    graph = convert.from_onnx(_model(feeds, consts, attrs))
    got = run_torch(graph, feeds)[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, **TOL)
    if case.startswith("1d"):  # onnxruntime's numbers confirm the reference in 1-D too
        np.testing.assert_allclose(_reference(feeds, consts, attrs), want, **TOL)
    # the ONNX writer keeps the node as it was: read back, the same numbers
    back = convert.to_onnx(graph, 19)
    onnx.checker.check_model(back)
    np.testing.assert_array_equal(run_torch(convert.from_onnx(back), feeds)[0], got)
    with pytest.raises(convert.UnsupportedError, match="19"):
        convert.to_onnx(graph, 18)
    moved = run_torch(graph, {**feeds, "offset": -feeds["offset"]})[0]
    assert np.abs(moved - want).max() > 0.1
    w = graph.weights["w"].copy()
    w.flat[np.abs(w).argmax()] *= 1.01  # the largest weight: a middle one may meet near-zero samples
    graph.weights["w"] = w
    assert np.abs(run_torch(graph, feeds)[0] - want).max() > 100 * TOL["atol"]


def test_deform_conv_3d_lifted_from_2d_matches_onnxruntime():
    """A 3-D model whose first axis is trivial against onnxruntime's own 2-D result."""
    feeds, consts, attrs = _case("2d-mask-strides")
    want = run_ort(_model(feeds, consts, attrs), feeds)[0]
    lifted = _lift(feeds, consts, attrs)
    got = run_torch(convert.from_onnx(_model(*lifted)), lifted[0])[0]
    np.testing.assert_allclose(got[:, :, 0], want, **TOL)


def test_deform_conv_3d_pt2_dynamic_batch(tmp_path):
    """Written as a ``.pt2`` at batch 2, run by torch.export.load at batches 1 and 2."""
    feeds, consts, attrs = _case("3d-mask-bias-groups-offset-groups")
    graph = convert.from_onnx(_model(feeds, consts, attrs))
    path = tmp_path / "model.pt2"
    convert.export(graph, path)
    module = torch.export.load(str(path)).module()
    want = _reference(feeds, consts, attrs)
    for batch in (1, 2):
        with torch.no_grad():
            got = module(*[torch.from_numpy(v[:batch].copy()) for v in feeds.values()])
        np.testing.assert_allclose(got.numpy(), want[:batch], **TOL)


def test_deform_conv_1d_torch_source(tmp_path):
    """The generated Python module, imported from its file, against onnxruntime."""
    from convert.exporters.torch.files import source_runner

    case = "1d-groups-strides-dilations"
    feeds, consts, attrs = _case(case)
    graph = convert.from_onnx(_model(feeds, consts, attrs))
    files = convert.export(graph, tmp_path / "model.py", fmt="torch-source")
    got = list(source_runner(str(files[0]), graph=graph)(feeds).values())[0]
    np.testing.assert_allclose(got, _oracle(case, feeds, consts, attrs), **TOL)


def test_deform_conv_fp16_on_a_plane_past_2048_pixels(tmp_path):
    """fp16 holds integers exactly only up to 2048: positions, weights and flat indices are
    computed in float32 and int64, so a 48x64 plane stays within the fp16 tolerance (1e-2
    of the output's scale, as for every half-precision output) of onnxruntime's float32."""
    from convert.exporters.torch.files import source_runner

    rng = np.random.default_rng(7)
    feeds = {"x": rng.standard_normal((1, 2, 48, 64)).astype(np.float32),
             "offset": (1.5 * rng.standard_normal((1, 18, 46, 62))).astype(np.float32)}
    model = _model(feeds, {"w": rng.standard_normal((3, 2, 3, 3)).astype(np.float32)}, {"kernel_shape": [3, 3]})
    want = run_ort(model, feeds)[0]
    graph = convert.from_onnx(model)
    files = convert.export(graph, tmp_path / "model.py", fmt="torch-source", precision="fp16")
    assert '"F16"' in files[1].read_bytes()[:400].decode("latin-1")
    got = list(source_runner(str(files[0]), graph=graph)(feeds).values())[0]
    assert np.abs(got - want).max() < 1e-2 * np.abs(want).max()


def test_more_than_three_spatial_axes_is_refused_by_name():
    feeds, consts, attrs = _case("3d-strides-dilations-pads")
    lifted = _lift(feeds, consts, attrs)
    graph = convert.from_onnx(_model(*lifted))
    with pytest.raises(convert.UnsupportedError, match="kernel_shape"):
        convert.to_torch(graph)


@pytest.mark.parametrize("key,value,offset_channels", [
    ("kernel_shape", [2, 2, 2], None),  # not W's
    ("strides", [1, 0, 1], None),
    ("dilations", [1, 1], None),  # one per axis
    ("pads", [0, 0, 0, 0, 0, -1], None),
    ("offset", None, 17),  # not offset_group * taps * 3 channels
    ("offset", None, "pads"),  # spatially not the output size the attributes give
])
def test_inconsistent_attributes_are_refused_by_name(key, value, offset_channels):
    """The output size follows offset's shape, so the reader checks every attribute against it."""
    feeds, consts, attrs = _case("3d-strides-dilations-pads")
    if value is not None:
        attrs[key] = value
    if offset_channels == "pads":
        attrs["pads"] = [0] * 6
    elif offset_channels is not None:
        feeds["offset"] = feeds["offset"][:, :offset_channels]
    with pytest.raises(convert.UnsupportedError, match=f"{key}="):
        convert.from_onnx(_model(feeds, consts, attrs))


def test_torch_writer_checks_a_graph_it_did_not_read():
    """An IR folder's DeformConv has not met the ONNX reader's checks: the writer refuses a
    zero stride by name rather than writing code that fails when run."""
    feeds, consts, attrs = _case("1d-mask-bias-offset-groups")
    graph = convert.from_onnx(_model(feeds, consts, attrs))
    node = next(n for n in graph.nodes if n.op == "DeformConv")
    node.attrs["strides"] = [0]
    with pytest.raises(convert.UnsupportedError, match=r"strides=\[0\]"):
        convert.to_torch(graph)


def test_ir_graph_runner_renders_at_the_opset_its_ops_need():
    """An IR graph run through onnxruntime (an `.nnir` folder as a verify target) renders
    at the first opset that writes DeformConv (19), not the default below it."""
    from convert.runtime.session import graph_runner

    feeds, consts, attrs = _case("2d-mask-strides")
    model = _model(feeds, consts, attrs)
    want = run_ort(model, feeds)[0]
    got = graph_runner(convert.from_onnx(model))(feeds)
    np.testing.assert_allclose(next(iter(got.values())), want, **TOL)
