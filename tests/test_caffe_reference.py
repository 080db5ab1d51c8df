"""Every case of the shared Caffe reference suite (blobs recorded by a real BVLC Caffe
build) converts, and EVERY stored blob that has an IR value of the same name matches
in onnxruntime -- intermediates too, exposed as extra graph outputs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from convert.ir.graph import Value
from helpers import run_onnx

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "caffe"
INDEX = SHARED / "index.json"
CASES = [c["name"] for c in json.loads(INDEX.read_text())["cases"]] if INDEX.exists() else []

# Caffe computes in float32 with OpenBLAS; onnxruntime sums in another order. 1e-5
# relative is what the suite's README calls ample; the absolute floor covers values
# that cancel to ~0.
RTOL, ATOL = 1e-5, 1e-5
# Per-case tolerances, each with its reason (none needed so far).
TOLERANCE: dict[str, tuple[float, float]] = {}


def convert_case(name: str):
    from convert.importers.caffe import from_caffe

    d = SHARED / name
    return from_caffe(str(d / "deploy.prototxt"), str(d / "weights.caffemodel"))


@pytest.mark.skipif(not CASES, reason="shared Caffe reference data not present")
@pytest.mark.parametrize("case", CASES)
def test_reference_case(case):
    d = SHARED / case
    blobs = dict(np.load(d / "blobs.npz"))
    graph = convert_case(case)
    inputs = {v.name: blobs[v.name] for v in graph.inputs}
    produced = {o for n in graph.nodes for o in n.outputs}
    have = {v.name for v in graph.outputs}
    compared = [b for b in blobs if b in produced]
    for b in compared:
        if b not in have:
            graph.outputs.append(Value(b, "float32", tuple(blobs[b].shape)))
    assert compared, f"{case}: no stored blob maps to an IR value"
    # Every stored non-input blob must map to an IR value (the naming rule).
    unmapped = [b for b in blobs if b not in produced and b not in inputs]
    assert not unmapped, f"{case}: blobs with no IR value: {unmapped}"
    outs = run_onnx(graph, inputs)
    rtol, atol = TOLERANCE.get(case, (RTOL, ATOL))
    for b in compared:
        got, want = outs[b], blobs[b]
        assert got.shape == want.shape, f"{case}/{b}: shape {got.shape} != Caffe {want.shape}"
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"{case}/{b}")


@pytest.mark.skipif(not CASES, reason="shared Caffe reference data not present")
@pytest.mark.parametrize("case", ["nets/tiny_resnet", "nets/inception_block", "nets/lenet_v1", "split", "lstm"])
def test_caffemodel_alone(case):
    """A .caffemodel carries the layer definitions (with Caffe's hidden Split layers):
    converting it alone gives the same numbers."""
    from convert.importers.caffe import from_caffe

    d = SHARED / case
    blobs = dict(np.load(d / "blobs.npz"))
    graph = from_caffe(None, str(d / "weights.caffemodel"))
    inputs = {v.name: blobs[v.name] for v in graph.inputs}
    outs = run_onnx(graph, inputs)
    assert outs
    for name, got in outs.items():
        np.testing.assert_allclose(got, blobs[name], rtol=RTOL, atol=ATOL, err_msg=f"{case}/{name}")


@pytest.mark.skipif(not CASES, reason="shared Caffe reference data not present")
@pytest.mark.parametrize("case", CASES)
def test_reference_case_through_cli(case, tmp_path):
    """The issue's acceptance path: `convert --verify --reference` passes for every case."""
    from click.testing import CliRunner

    from convert.cli.main import main

    d = SHARED / case
    report = tmp_path / "r.json"
    r = CliRunner().invoke(main, [
        "convert", str(d / "deploy.prototxt"), "--weights", str(d / "weights.caffemodel"),
        "-o", str(tmp_path / "m.onnx"), "--verify", "--reference", str(d / "blobs.npz"),
        "--rtol", str(RTOL), "--atol", str(ATOL), "--report", str(report)])
    assert r.exit_code == 0, r.output
    rep = json.loads(report.read_text())
    assert rep["verdict"] == "pass" and rep["runs"][0]["outputs"], rep
