"""The ``_expanded`` conformance cases of RotaryEmbedding, CenterCropPad and AffineGrid (the
op written as its ONNX function body: sizes computed by Shape/Slice/Div chains that ONNX's
shape inference leaves unknown) through ONNX -> IR -> ``.pt2``, loaded back with
``torch.export.load`` and compared with the case's expected outputs at its tolerances."""
from __future__ import annotations

import importlib
import logging
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
import onnx_conformance  # noqa: E402  (frozen: operands the IR holds as attributes)

import convert  # noqa: E402
from convert.exporters import torch as torch_export  # noqa: E402

# The ONNX modules that define these cases; importing one records its cases (a few seconds,
# where collecting the whole suite takes half a minute).
_MODULES = ("rotaryembedding", "center_crop_pad", "affinegrid")


@pytest.fixture(scope="module")
def cases() -> dict:
    import onnx.backend.test.case.node as node_cases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for m in _MODULES:
            importlib.import_module(f"onnx.backend.test.case.node.{m}")
    return {c.name: c for c in node_cases._NodeTestCases if c.name.endswith("_expanded")}


NAMES = [f"test_rotary_embedding{s}_expanded" for s in (
    "", "_3d_input", "_interleaved", "_with_rotary_dim", "_with_interleaved_rotary_dim", "_no_position_ids",
    "_no_position_ids_interleaved", "_no_position_ids_rotary_dim")] + [
    f"test_center_crop_pad_{s}_expanded" for s in (
        "crop", "pad", "crop_and_pad", "crop_axes_hwc", "crop_negative_axes_hwc", "crop_axes_chw")] + [
    f"test_affine_grid_{s}_expanded" for s in ("2d", "2d_align_corners", "3d", "3d_align_corners")]


def _run(program, feeds):
    with torch.no_grad():
        out = program(*[torch.from_numpy(np.array(f)) for f in feeds])
    return [o.numpy() for o in (out if isinstance(out, (tuple, list)) else [out])]


@pytest.mark.parametrize("name", NAMES)
def test_expanded_case_to_pt2(name, cases, tmp_path):
    logging.getLogger("convert").setLevel(logging.ERROR)
    case = cases[name]
    model, kept = onnx_conformance.frozen(case)
    g = case.model.graph
    inputs = [vi.name for vi in g.input if vi.name not in {t.name for t in g.initializer}]
    graph = convert.from_onnx(model)
    torch_export.save(graph, tmp_path / "m.pt2")
    program = torch.export.load(str(tmp_path / "m.pt2")).module()
    for feeds, want in case.data_sets:
        feeds = [f for n, f in zip(inputs, feeds) if n in kept]
        got = _run(program, feeds)
        assert len(got) == len(want)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=case.rtol, atol=case.atol, err_msg=name)
        # the check can fail: another first input moves the output far past the tolerance
        other = [np.random.default_rng(1).standard_normal(feeds[0].shape).astype(feeds[0].dtype)] + feeds[1:]
        moved = _run(program, other)[0]
        assert np.abs(moved - want[0]).max() > 100 * (case.atol + case.rtol * np.abs(want[0]).max())
