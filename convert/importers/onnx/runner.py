"""The source side of verification: the original ONNX model in onnxruntime, its inputs
and outputs renamed to the IR interface (and transposed for an NHWC interface)."""
from __future__ import annotations

import numpy as np

from ...runtime.session import layers_runner, session_runner
from .importer import _TO_NCHW, _TO_NHWC


def make_runners(model, graph, interface: dict[str, str], io_layout: str):
    import onnxruntime

    data = model.SerializeToString()
    session = session_runner(data)
    to_ir = dict(interface)
    to_onnx = {v: k for k, v in interface.items()}
    nhwc = io_layout == "nhwc"

    def run(inputs: dict) -> dict:
        feed = {}
        for name, arr in inputs.items():
            arr = np.asarray(arr)
            if nhwc and arr.ndim in _TO_NCHW:
                arr = arr.transpose(_TO_NCHW[arr.ndim])
            feed[to_onnx.get(name, name)] = arr
        out = {}
        for name, arr in session(feed).items():
            if nhwc and arr.ndim in _TO_NHWC:
                arr = arr.transpose(_TO_NHWC[arr.ndim])
            out[to_ir.get(name, name)] = arr
        return out

    run.providers = session.providers  # type: ignore[attr-defined]
    if nhwc:
        return run, None, f"onnxruntime {onnxruntime.__version__}"
    layers = layers_runner(model)

    def run_layers(inputs: dict, names: list[str]) -> dict:
        return layers({to_onnx.get(k, k): v for k, v in inputs.items()}, names)

    return run, run_layers, f"onnxruntime {onnxruntime.__version__}"
