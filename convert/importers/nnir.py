"""The nnir folder (graph.json + weights.safetensors) as a source: read it, and run it
(exported to ONNX, in onnxruntime) as the source side of verification."""
from __future__ import annotations

from ..exporters.onnx import max_opset
from ..ir.graph import Graph
from ..ir.serialize import load as load_graph
from ..loaded import LoadedModel
from ..runtime.session import Run, graph_runner


def load(path: str, **_ignored) -> LoadedModel:
    g = load_graph(path)
    return LoadedModel(graph=g, format="nnir", path=str(path), run=_lazy_run(g))


def _lazy_run(graph: Graph) -> Run:
    """The source runner, built on first use: reading an nnir file must not depend on
    it exporting to ONNX at the default opset (a graph may need a newer one)."""
    state: dict = {}

    def run(inputs):
        if "run" not in state:
            state["run"] = graph_runner(graph, opset=max_opset())
        return state["run"](inputs)

    return run


def runner(path: str, *, device: str = "cpu", **_ignored) -> Run:
    """A written nnir folder as a verification runner."""
    return graph_runner(load_graph(path), device=device)
