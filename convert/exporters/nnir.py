"""The nnir folder (graph.json + weights.safetensors) as a target."""
from __future__ import annotations

from pathlib import Path

from ..ir.graph import Graph
from ..ir.serialize import save as save_graph
from ..progress import Progress


def save(graph: Graph, path: str | Path, progress: Progress | None = None, **_ignored) -> list[Path]:
    return [save_graph(graph, path, progress)]
