"""The nnir folder (graph.json + weights.safetensors) as a target."""
from __future__ import annotations

from pathlib import Path

from ..ir.graph import Graph
from ..ir.serialize import save as save_graph


def save(graph: Graph, path: str | Path, **_ignored) -> list[Path]:
    return [save_graph(graph, path)]
