"""torchvision dense prediction: segmentation models (``{"out": ...}``) and detection
backbones (body + FPN, one feature map per level), built with ``weights=None,
weights_backbone=None`` and given signal-carrying weights (tests/torchvision_zoo.py),
exported with ``torch.export.export`` defaults and a dynamic batch, converted from the
``.pt2`` and compared with torch output by output at batch 2 and 3, tolerance
``1e-4 * max(1, max|ref|)`` per output (against float64 where torch's own float32 is
that far off: FLOAT64_FLOOR).

CI runs the cheapest (lraspp_mobilenet_v3_large); the others run with
NNCONVERT_FULL_TORCHVISION_CORPUS=1."""
from __future__ import annotations

import copy
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
zoo = pytest.importorskip("torchvision_zoo")
zoo.skip_without_torchvision()

pytestmark = pytest.mark.slow

CI_SET = {"lraspp_mobilenet_v3_large"}
# torch's own float32 output is off float64 by up to 0.66x the tolerance (retinanet's FPN
# level 2 at 64 px; 0.6x at 96 px): onnxruntime's float32, summing in another order, is as
# far off on the other side (1.03x from torch's float32). There the reference is torch run
# in float64 on the same weights, allowed twice torch's own float32 error where that
# exceeds the tolerance (the keras.applications corpus' rule).
FLOAT64_FLOOR = {"retinanet_resnet50_fpn"}
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
    model64 = copy.deepcopy(model).double() if name in FLOAT64_FLOOR else None
    for b in BATCHES:
        x = _inputs(name, b)
        with torch.no_grad():
            refs = zoo.outputs(model(x))
            tols = [zoo.tolerance(r) for r in refs]
            if model64 is not None:
                refs64 = zoo.outputs(model64(x.double()))
                tols = [max(zoo.tolerance(r64), 2 * float(np.abs(r - r64).max())) for r, r64 in zip(refs, refs64)]
                refs = refs64
        got = sess.run(None, {graph.inputs[0].name: x.numpy()})
        assert len(got) == len(refs), f"{name}: {len(got)} outputs, torch has {len(refs)}"
        for i, (g, r, tol) in enumerate(zip(got, refs, tols)):
            err = float(np.abs(g - r).max())
            assert g.shape == r.shape and err <= tol, f"{name} output {i} batch {b}: max abs error {err:.3g} > {tol:.3g}"
