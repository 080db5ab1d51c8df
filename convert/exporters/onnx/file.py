"""The ONNX format's entry points for the CLI (writer, unsupported-op check)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ...ir.graph import Graph
from ...passes.precision import METADATA_KEY
from .export import DEFAULT_OPSET, save_onnx, unsupported_ops
from .half import check_loads


def save(graph: Graph, path: str | Path, *, opset: int | None = None, external: bool | None = None,
         progress: Callable[[int, int], None] | None = None, **_ignored) -> list[Path]:
    # No onnx.checker here: it alone would import onnx into every conversion. The encoder's
    # bytes equal onnx's serialisation of to_onnx's model, which the exporter tests check;
    # --verify runs the written file in onnxruntime.
    files = save_onnx(graph, path, opset or DEFAULT_OPSET, external=external, progress=progress, check=False)
    if graph.metadata.get(METADATA_KEY) == "fp16":  # computes in float16: prove onnxruntime loads it first
        check_loads(path, "fp16")
    return files


def unsupported(graph: Graph, *, opset: int | None = None, **_ignored):
    return unsupported_ops(graph, opset or DEFAULT_OPSET)
