"""IR -> Keras 3 functional model of built-in layers; saved as .keras."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import Unsupported, UnsupportedAttributeError, UnsupportedError, UsageError
from ...ir.graph import Graph
from ...progress import Progress, Ticker
from . import activations, attention, layers, rnn, shape_ops, tensor_ops  # noqa: F401  (registers handlers)
from .fusion import FUSION
from ..common import run_handlers_past_gaps
from .context import KerasContext
from .registry import KERAS_HANDLERS


def _build(graph: Graph, fuse_activations: bool = False) -> tuple[Any, list[Unsupported]]:
    fused = FUSION.find(graph) if fuse_activations else None
    ctx = KerasContext(graph, fused)
    keras = ctx.keras
    problems: list[Unsupported] = []
    inputs = []
    for v in graph.inputs:
        if v.shape is None:
            problems.append(Unsupported(v.name, "input", "shape", None, "Keras inputs need a rank"))
            continue
        shape = tuple(d if isinstance(d, int) and d > 0 else None for d in v.shape[1:])
        t = keras.Input(shape=shape, name=ctx.unique(v.name), dtype=v.dtype)
        inputs.append(t)
        ctx.put(v.name, t)
    problems += run_handlers_past_gaps(graph, ctx, KERAS_HANDLERS, "no Keras export", set())
    if problems:
        return None, problems
    outputs = []
    for v in graph.outputs:
        try:
            outputs.append(ctx.get(v.name))  # the interface keeps the IR layout
        except UnsupportedAttributeError as e:
            problems.append(Unsupported(v.name, "output", e.attribute, e.value, e.hint))
    if problems:
        return None, problems
    model = keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=ctx.unique(graph.name or "model"))
    return model, []


def unsupported(graph: Graph, **_ignored) -> list[Unsupported]:
    """Every node or attribute the Keras target cannot express, all at once."""
    return _build(graph)[1]


def to_keras(graph: Graph, fuse_activations: bool = True) -> Any:
    """A ``keras.Model`` (functional, built-in layers only) computing the IR graph;
    ``fuse_activations``: a trailing activation becomes the Conv/Dense layer's own."""
    model, problems = _build(graph, fuse_activations)
    if problems:
        raise UnsupportedError(problems, "Keras export")
    return model


def save(graph: Graph, path: str | Path, *, fuse_activations: bool = True, progress: Progress | None = None,
         **_ignored) -> list[Path]:
    """Write a ``.keras`` file that ``keras.saving.load_model`` reads without nnconvert;
    ``progress(done, total)`` per layer whose weights Keras has written."""
    path = Path(path)
    if path.suffix != ".keras":
        raise UsageError(f"{path}: the Keras target writes .keras files")
    model = to_keras(graph, fuse_activations)
    tick = _count_weight_sets(model, progress)
    model.save(str(path))
    _reproducible(path)
    tick.finish()
    return [path]


def _count_weight_sets(model: Any, progress: Progress | None) -> Ticker:
    """Keras saves each layer's variables through the layer's ``save_own_variables``:
    wrapping it on these instances counts the layers as their weights are written."""
    weighted = [layer for layer in model.layers if layer.weights] if progress is not None else []
    tick = Ticker(progress, len(weighted))
    for layer in weighted:
        def counted(store, _own=layer.save_own_variables):
            _own(store)
            tick()
        object.__setattr__(layer, "save_own_variables", counted)  # past Keras' attribute tracking
    return tick


def _reproducible(path: Path) -> None:
    """Keras stamps the zip members and metadata.json with the save time and numbers
    shared objects by memory address: pin all three, so the same graph always gives the
    same bytes."""
    import json
    import time

    from ...files import fixed_date, normalize_zip

    def pin_date(raw: bytes) -> bytes:
        meta = json.loads(raw)
        if "date_saved" in meta:
            meta["date_saved"] = time.strftime("%Y-%m-%d@%H:%M:%S", fixed_date() + (0, 0, -1))
        return json.dumps(meta).encode()

    def renumber_shared(raw: bytes) -> bytes:
        # Keras names objects shared between layers by id() (a memory address): number
        # them by first appearance instead, which keeps which-is-shared-with-which.
        import re

        ids: dict[bytes, bytes] = {}

        def sub(m):
            return b'"shared_object_id": ' + ids.setdefault(m.group(1), str(len(ids) + 1).encode())

        return re.sub(rb'"shared_object_id": (\d+)', sub, raw)

    normalize_zip(path, {"metadata.json": pin_date, "config.json": renumber_shared})
