"""The nnir folder as a CLI format: read, write, and run (through ONNX)."""
from __future__ import annotations

from pathlib import Path

from ..loaded import LoadedModel
from .graph import Graph
from .serialize import load as load_graph
from .serialize import save as save_graph


def load(path: str, **_ignored) -> LoadedModel:
    g = load_graph(path)
    return LoadedModel(graph=g, format="nnir", path=str(path), run=_ort_run(g))


def save(graph: Graph, path: str | Path, **_ignored) -> list[Path]:
    return [save_graph(graph, path)]


def runner(path: str, *, device: str = "cpu", **_ignored):
    return _ort_run(load_graph(path), device=device)


def _ort_run(graph: Graph, device: str = "cpu", **_ignored):
    from ..verify.onnx_runner import session_runner
    from ..exporters.onnx import to_onnx

    return session_runner(to_onnx(graph).SerializeToString(), device=device)
