"""Real-world deploy prototxts (no weights): each parses, converts with zero-filled
weights, passes onnx.checker's full check and runs in onnxruntime at its declared
input shape. Numbers are not checked here (there are no reference outputs)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ZOO = Path(__file__).resolve().parents[1].parent / "shared" / "caffe-zoo"
MODELS = sorted(p.parent.name for p in ZOO.glob("*/deploy.prototxt")) if ZOO.exists() else []


@pytest.mark.skipif(not MODELS, reason="shared caffe-zoo prototxts not present")
@pytest.mark.parametrize("model", MODELS)
def test_zoo_prototxt_converts_and_runs(model):
    import onnx
    import onnxruntime as ort

    from convert.exporters.onnx import to_onnx
    from convert.importers.caffe import load

    loaded = load(str(ZOO / model / "deploy.prototxt"), allow_missing_weights=True)
    assert any("zero-filled" in w for w in loaded.warnings)
    graph = loaded.graph
    proto = to_onnx(graph)
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {v.name: np.zeros(v.shape, np.float32) for v in graph.inputs}
    outs = sess.run(None, feeds)
    for v, o in zip(graph.outputs, outs):
        assert o.shape == tuple(v.shape), f"{model}/{v.name}: {o.shape} != declared {v.shape}"
        assert np.all(np.isfinite(o))
