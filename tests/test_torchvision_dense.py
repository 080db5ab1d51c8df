"""torchvision dense prediction: segmentation models (``{"out": ...}``) and detection
backbones (body + FPN, one feature map per level), built with ``weights=None,
weights_backbone=None`` and given signal-carrying weights (tests/torchvision_zoo.py),
exported with ``torch.export.export`` defaults and a dynamic batch, converted from the
``.pt2`` and compared with torch output by output at batch 2 and 3, tolerance
``1e-4 * max(1, max|ref|)`` per output.

CI runs the cheapest (lraspp_mobilenet_v3_large); the others run with
NNCONVERT_FULL_TORCHVISION_CORPUS=1."""
from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
zoo = pytest.importorskip("torchvision_zoo")
try:
    zoo.import_torchvision()
except ImportError:
    pytest.skip("torchvision is not installed (pip install 'nnconvert[vision]')", allow_module_level=True)

pytestmark = pytest.mark.slow

CI_SET = {"lraspp_mobilenet_v3_large"}
FULL = os.environ.get("NNCONVERT_FULL_TORCHVISION_CORPUS") == "1"
BATCHES = (2, 3)


def _cases():
    skip = pytest.mark.skip(reason="not in CI's time budget; set NNCONVERT_FULL_TORCHVISION_CORPUS=1 to run it")
    return [pytest.param(n, marks=[] if FULL or n in CI_SET else [skip]) for n in zoo.DENSE]


def _inputs(name: str, batch: int, seed: int = 0) -> torch.Tensor:
    size = zoo.DENSE[name][1]
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed + batch))


def _session(graph):
    import onnxruntime as ort

    from convert.api import optimize_graph
    from convert.exporters.onnx import to_onnx

    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(to_onnx(optimize_graph(graph), 17).SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("name", _cases())
def test_dense_model(name, tmp_path):
    from convert.importers.torch import load

    model = zoo.build_dense(name)
    zoo.assert_signal(model, _inputs(name, 2), _inputs(name, 2, seed=7))
    path = tmp_path / f"{name}.pt2"
    with torch.no_grad():
        program = torch.export.export(model, (_inputs(name, 2),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, path)
    del program
    graph = load(str(path)).graph
    path.unlink()
    assert graph.inputs[0].shape[0] == "batch"
    sess = _session(graph)
    for b in BATCHES:
        x = _inputs(name, b)
        with torch.no_grad():
            refs = zoo.outputs(model(x))
        got = sess.run(None, {graph.inputs[0].name: x.numpy()})
        assert len(got) == len(refs), f"{name}: {len(got)} outputs, torch has {len(refs)}"
        for i, (g, r) in enumerate(zip(got, refs)):
            err, tol = float(np.abs(g - r).max()), zoo.tolerance(r)
            assert g.shape == r.shape and err <= tol, f"{name} output {i} batch {b}: max abs error {err:.3g} > {tol:.3g}"
