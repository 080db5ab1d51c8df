"""Keras importer: ``.keras`` archives, legacy ``.h5`` files and live ``keras.Model`` objects.

Converting a file reads its JSON config and its HDF5 weights directly (h5py), so it needs
neither Keras nor TensorFlow; only running the source model for verification does.
Layers whose classes would run code from the file (Lambda, custom classes) are never
executed: they are reported, with every other unsupported layer, before anything is
written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ...ir.builder import GraphBuilder
from ...ir.graph import Graph, Node, Value
from ...naming import claim
from . import layers as _layers  # noqa: F401  (registers the layer handlers)
from .archive import KerasArchive, LayerWeights, read
from .context import KerasContext, symbolic
from .model import Walk, as_list_of_keys, convert_model
from .registry import KERAS_LAYERS

IO_LAYOUTS = ("nhwc", "nchw")


def convert_archive(archive: KerasArchive, io_layout: str = "nhwc", input_shapes: dict | None = None,
                    bridge: bool = False) -> tuple[Graph, Walk]:
    """Config + weights -> IR graph (all problems raised at once). With ``bridge`` (the
    pre-flight check), unsupported layers pass their input through and are returned in
    ``walk.gaps`` instead."""
    from ...errors import UsageError

    if io_layout not in IO_LAYOUTS:
        raise UsageError(f"io_layout must be one of {IO_LAYOUTS}, got {io_layout!r}")
    name = archive.config.get("config", {}).get("name", "model")
    b = GraphBuilder(name, "keras")
    ctx = KerasContext(b, io_layout)
    ctx.budget = archive.budget
    ctx.file = archive.path or name
    walk = Walk(ctx, archive.path, input_shapes, bridge=bridge)
    cfg = archive.config.get("config", {})
    out_names = _output_names(archive.config)
    for n in out_names:
        b.reserve(n)
    outputs = convert_model(walk, archive.config, archive.weights)
    walk.gaps = list(b.problems) if bridge else []
    if bridge:
        b.problems.clear()
    if b.problems:
        b.finish(archive.path or name)  # raises with every problem
    # Inputs nobody consumed are still part of the interface.
    for _, ref in walk.inputs:
        if ref.input_name is not None:
            ctx.any(ref)
    _order_inputs(b.graph, cfg, [n for n, _ in walk.inputs])
    ctx.call = None
    b.source = None
    renamed: dict[str, str] = {}
    for out_name, (_, ref) in zip(out_names, outputs):
        perm = ctx.interface_perm(ref.rank)
        value = ctx.get(ref, perm)
        value = _rename(b, renamed.get(value, value), out_name)
        renamed.setdefault(ctx.get(ref, perm), value)
        b.output(value, ref.dtype, symbolic(tuple(ref.shape[p] for p in perm), out_name))
    b.graph.metadata.update({"source_framework": "keras", "keras_version": archive.keras_version,
                             "io_layout": io_layout})
    del cfg
    return b.finish(archive.path or name), walk


def _order_inputs(graph, cfg: dict, walked: list[str]) -> None:
    """Graph inputs in the model's own order (``model.inputs``), not the order of first use."""
    listed = [k[0] for k in as_list_of_keys(cfg.get("input_layers", []))] or walked
    rank = {name: i for i, name in enumerate(listed)}
    graph.inputs.sort(key=lambda v: rank.get(v.name, len(rank)))


def _output_names(model_cfg: dict) -> list[str]:
    cfg = model_cfg.get("config", {})
    if model_cfg.get("class_name") == "Sequential":
        return [cfg["layers"][-1]["config"]["name"]]
    keys = cfg.get("output_layers", [])
    if keys and isinstance(keys[0], str):
        keys = [keys]
    # A layer with one output keeps its name; the outputs of a multi-output layer are
    # numbered, and a numbered name another layer already has (LSTM "lstm" -> "lstm_1"
    # next to a layer "lstm_1") takes the next free one, so every name is unique.
    layers = [k[0] for k in keys]
    taken = {n for n in layers if layers.count(n) == 1}
    names, seen = [], {}
    for n in layers:
        if layers.count(n) > 1:
            seen[n] = seen.get(n, -1) + 1
            n = claim(f"{n}_{seen[n]}", taken)
        names.append(n)
    return names


def _rename(b: GraphBuilder, value: str, new: str) -> str:
    """Give an output value its Keras name (the name was reserved up front)."""
    g = b.graph
    producer = next((n for n in g.nodes if value in n.outputs), None)
    taken = any(v.name == value for v in g.outputs)
    if producer is None or taken:
        g.nodes.append(Node("Identity", b.unique(new + "/identity"), [value], [new]))
        return new
    producer.outputs = [new if o == value else o for o in producer.outputs]
    for n in g.nodes:
        n.inputs = [new if i == value else i for i in n.inputs]
    if value in g.values:
        g.values[new] = Value(new, g.values[value].dtype, g.values.pop(value).shape)
    return new


def from_keras(model_or_path: Any, *, io_layout: str = "nhwc", input_shapes: dict | None = None) -> Graph:
    """A live ``keras.Model`` or a model file -> IR graph."""
    if isinstance(model_or_path, (str, Path)):
        return convert_archive(read(model_or_path), io_layout, input_shapes)[0]
    return convert_archive(_live_archive(model_or_path), io_layout, input_shapes)[0]


def load(path: str, *, io_layout: str = "nhwc", input_shapes: dict | None = None, bridge: bool = False,
         **_ignored):
    """Import a file for the CLI: the graph plus a runner of the original Keras model."""
    from ...loaded import LoadedModel
    from .runner import make_runners

    archive = read(path)
    graph, walk = convert_archive(archive, io_layout, input_shapes, bridge)
    run, run_layers, version = make_runners(str(path), graph, walk, io_layout)
    fmt = "keras" if archive.container == "keras" else "keras-h5"
    return LoadedModel(graph, fmt, str(path), run, run_layers, None, version or archive.keras_version,
                       gaps=walk.gaps, source_params=_count(archive.weights, set()))


def _count(node: LayerWeights, seen: set) -> int:
    """Keras' count_params(): every stored array (non-trainable ones too), shared layers once."""
    if id(node) in seen:
        return 0
    seen.add(id(node))
    return int(sum(a.size for a in node.arrays)) + sum(_count(sub, seen) for sub in node.layers.values())


def _live_archive(model) -> KerasArchive:
    import keras

    config = keras.saving.serialize_keras_object(model)
    return KerasArchive(config, _live_weights(model), keras.__version__, "live", "")


def _live_weights(layer) -> LayerWeights:
    node = LayerWeights([w.numpy() for w in layer.weights])
    for sub in getattr(layer, "layers", None) or []:
        node.layers[sub.name] = _live_weights(sub)
    if getattr(layer, "layers", None):
        node.arrays = []
    else:  # a leaf's weight paths name its own sublayers (MultiHeadAttention's mha/query/kernel)
        node.names = [str(getattr(w, "path", w.name)) for w in layer.weights]
    return node


__all__ = ["from_keras", "load", "KERAS_LAYERS", "IO_LAYOUTS"]
