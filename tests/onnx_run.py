"""Running an ONNX model in onnxruntime and an IR graph as a torch module, for the ONNX
source tests (numbers from onnxruntime, compared exactly or with a tolerance)."""
from __future__ import annotations

import numpy as np


def run_ort(model, feeds: dict) -> list:
    import onnxruntime as ort

    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def run_torch(graph, feeds: dict) -> list:
    """The graph's outputs from ``convert.to_torch``, fed in the order of ``feeds``."""
    import torch

    import convert

    with torch.no_grad():
        out = convert.to_torch(graph)(*[torch.from_numpy(v) for v in feeds.values()])
    return [o.numpy() for o in (out if isinstance(out, (tuple, list)) else [out])]


def assert_same(got: list, want: list) -> None:
    """Same count, dtypes, shapes and values (integer results must match exactly)."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape and np.array_equal(g, w), (g, w)
