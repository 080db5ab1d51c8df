"""What an importer hands back for a file: the IR graph plus what verification needs."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .ir.graph import Graph

Arrays = dict[str, np.ndarray]


@dataclass
class LoadedModel:
    """An imported model.

    ``run`` executes the source framework on arrays keyed by the graph's input names and
    returns arrays keyed by the graph's output names (same layout as the graph's
    interface), or is None when the source cannot run here (Caffe). ``run_layers``, when
    present, returns intermediate values keyed by IR value name, for per-layer
    comparison. ``reference`` holds recorded arrays (Caffe blobs) keyed by IR value name.
    """

    graph: Graph
    format: str
    path: str | None = None
    run: Callable[[Arrays], Arrays] | None = None
    run_layers: Callable[[Arrays, list[str]], Arrays] | None = None
    reference: Arrays | None = None
    framework_version: str = ""
    warnings: list[str] = field(default_factory=list)
    # The parameter count as the source framework reports it (Keras count_params(), torch
    # parameters()), where the IR stores some differently (an LSTM's bias in two halves).
    source_params: int | None = None
    # Pre-flight only (``bridge=True``): unsupported layers the importer passed over.
    gaps: list = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<LoadedModel {self.format} {self.path or ''}: {self.graph!r}>"
