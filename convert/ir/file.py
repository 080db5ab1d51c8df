"""The nnir folder as a CLI format: read, write, and run (through ONNX)."""
from __future__ import annotations

from pathlib import Path

from ..loaded import LoadedModel
from ..progress import Progress
from .graph import Graph
from .serialize import load as load_graph
from .serialize import save as save_graph


def load(path: str, **_ignored) -> LoadedModel:
    g = load_graph(path)
    return LoadedModel(graph=g, format="nnir", path=str(path), run=_lazy_run(g))


def _lazy_run(graph: Graph):
    """The source runner, built on first use: reading an nnir file must not depend on
    it exporting to ONNX at the default opset (a graph may need a newer one)."""
    state: dict = {}

    def run(inputs):
        if "run" not in state:
            from ..exporters.onnx import max_opset

            state["run"] = _ort_run(graph, opset=max_opset())
        return state["run"](inputs)

    return run


def save(graph: Graph, path: str | Path, progress: Progress | None = None, **_ignored) -> list[Path]:
    return [save_graph(graph, path, progress)]


def runner(path: str, *, device: str = "cpu", **_ignored):
    return _ort_run(load_graph(path), device=device)


def _ort_run(graph: Graph, device: str = "cpu", opset: int | None = None, **_ignored):
    from ..verify.onnx_runner import session_runner
    from ..exporters.onnx import DEFAULT_OPSET, to_onnx

    return session_runner(to_onnx(graph, opset or DEFAULT_OPSET).SerializeToString(), device=device)
