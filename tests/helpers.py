"""Shared test helpers: run an IR graph through the ONNX exporter and onnxruntime."""
from __future__ import annotations

import numpy as np

from convert.exporters.onnx import to_onnx
from convert.ir import Graph


def run_onnx(graph: Graph, inputs: dict[str, np.ndarray], opset: int = 17, optimize: bool = True) -> dict[str, np.ndarray]:
    """Export ``graph`` (after the default optimisation passes) and run it in onnxruntime."""
    import onnx
    import onnxruntime as ort

    if optimize:
        from convert.api import optimize_graph as opt

        graph = opt(graph)
    model = to_onnx(graph, opset)
    onnx.checker.check_model(model, full_check=True)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    outs = sess.run(None, inputs)
    return {o.name: v for o, v in zip(sess.get_outputs(), outs)}


def assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-4, atol: float = 1e-5, what: str = "") -> None:
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def target_runner(graph: Graph, target: str):
    """Run ``graph`` on torch tensors: ``"torch"`` (the torch exporter's module) or
    ``"onnx<opset>"`` (onnxruntime); returns the first output as numpy."""
    if target == "torch":
        from convert.exporters.torch import to_torch

        module = to_torch(graph)
        return lambda *xs: module(*xs).detach().numpy()
    opset = int(target[4:])
    return lambda *xs: run_onnx(graph, {v.name: x.numpy() for v, x in zip(graph.inputs, xs)},
                                opset=opset)[graph.outputs[0].name]


def write_module(path, text: str, name: str):
    """Write a model file (``file.py:factory`` sources) and import it as module ``name``."""
    import importlib.util
    from pathlib import Path

    Path(path).write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def skip_unless_torch_reads_pt2_layout() -> None:
    """torch 2.6 loads only its own older .pt2 layout, not the PT2 archives of the
    committed fixtures (written by 2.13); nnconvert's reader reads both."""
    import importlib.util

    import pytest

    if importlib.util.find_spec("torch.export.pt2_archive") is None:
        pytest.skip("this torch cannot load a PT2-layout archive (as torch 2.13 writes them)")
