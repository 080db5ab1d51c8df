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


def single_node(op: str, feeds: dict, consts: dict, out_types: list, opset: int = 21, **attrs):
    """A one-node model: ``feeds`` become graph inputs, ``consts`` initializers, in the
    node's input order ``order`` (default: feeds then consts); outputs of the numpy types
    ``out_types``."""
    from onnx import helper, numpy_helper

    names = list(feeds) + list(consts)
    order = attrs.pop("order", names)
    outs = [f"y{k}" for k in range(len(out_types))]
    g = helper.make_graph(
        [helper.make_node(op, order, outs, **attrs)], op,
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for k, v in feeds.items()],
        [helper.make_tensor_value_info(o, helper.np_dtype_to_tensor_dtype(np.dtype(t)), None)
         for o, t in zip(outs, out_types)],
        initializer=[numpy_helper.from_array(v, k) for k, v in consts.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
