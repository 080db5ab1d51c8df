"""nnconvert: convert trained neural networks between frameworks through one IR and
prove every conversion numerically.

Importing this package imports no deep-learning framework: every importer and
exporter imports its framework lazily, inside the function that needs it.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import NNConvertError, UnsupportedError  # noqa: E402
from .ir import Graph, load, save, validate  # noqa: E402

_LAZY = {
    "from_torch": "convert.importers.torch:from_torch",
    "from_keras": "convert.importers.keras:from_keras",
    "from_caffe": "convert.importers.caffe:from_caffe",
    "from_onnx": "convert.importers.onnx:from_onnx",
    "to_torch": "convert.exporters.torch:to_torch",
    "to_keras": "convert.exporters.keras:to_keras",
    "to_onnx": "convert.exporters.onnx:to_onnx",
    "save_onnx": "convert.exporters.onnx:save_onnx",
    "optimize": "convert.api:optimize_graph",
    "load_model": "convert.api:load_model",
    "convert_file": "convert.api:convert_file",
    "export": "convert.api:export",
    "verify": "convert.api:verify",
}


def __getattr__(name: str):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'convert' has no attribute {name!r}")
    import importlib

    mod, attr = target.split(":")
    return getattr(importlib.import_module(mod), attr)


__all__ = ["Graph", "load", "save", "validate", "NNConvertError", "UnsupportedError", *_LAZY]
