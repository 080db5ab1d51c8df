"""ONNX importer: ``.onnx`` files (external data included) and ModelProtos -> IR.

Every node goes through a small per-op handler (``ops/``, picked per opset); operands
known at conversion time are folded, and shape arithmetic on dynamic dimensions is
followed symbolically so that a dynamic batch stays dynamic. Importing this package
imports neither onnx nor onnxruntime: that happens on first use.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ...ir.graph import Graph


def _graph(model, where: str, io_layout: str):
    from . import ops  # noqa: F401  (registers the handlers)
    from .importer import build_graph

    return build_graph(model, where, io_layout)


def from_onnx(model_or_path: Any, *, io_layout: str = "nchw") -> Graph:
    """An ONNX file path, serialized bytes or ``onnx.ModelProto`` -> IR graph.
    ``io_layout="nhwc"`` exposes channels-last inputs/outputs (for Keras targets)."""
    import logging

    if isinstance(model_or_path, (str, Path)):
        from .read import read_model

        model, where = read_model(str(model_or_path)), str(model_or_path)
    elif isinstance(model_or_path, (bytes, bytearray)):
        import onnx

        model, where = onnx.load_from_string(bytes(model_or_path)), "model"
    else:
        model, where = model_or_path, model_or_path.graph.name or "model"
    graph, warnings, _ = _graph(model, where, io_layout)
    for w in warnings:
        logging.getLogger(__name__).warning("%s", w)
    return graph


def load(path: str, *, io_layout: str = "nchw", **_ignored):
    """Import a file for the CLI, with onnxruntime as the source runner for verification."""
    from ...loaded import LoadedModel
    from .read import inline_external, read_model
    from .runner import make_runners

    model = read_model(str(path))
    graph, warnings, interface = _graph(model, str(path), io_layout)
    inline_external(model, str(path))  # onnxruntime gets the model as bytes
    run, run_layers, version = make_runners(model, graph, interface, io_layout)
    return LoadedModel(graph, "onnx", str(path), run, run_layers, None, version, warnings)


def supported_ops() -> list[str]:
    """The ONNX op types the importer has a handler for (for the support matrix)."""
    from . import ops  # noqa: F401
    from .registry import ONNX_OPS

    return ONNX_OPS.keys()


__all__ = ["from_onnx", "load", "supported_ops"]
