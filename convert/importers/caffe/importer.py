"""Caffe net -> IR graph: inputs, TEST-phase layers in order, outputs."""
from __future__ import annotations

import logging
from pathlib import Path

from ... import limits
from ...errors import ModelLoadError, UnsupportedAttributeError, UnsupportedError, Unsupported
from ...ir.graph import Graph, Source, Value
from ...ir.validate import validate
from .context import CaffeBuilder, LayerContext, NetState
from .parse import CaffeNet, in_test_phase, parse_caffemodel, parse_prototxt
from .registry import CAFFE_LAYERS

log = logging.getLogger(__name__)

_NOT_INFERENCE = {"Data", "ImageData", "HDF5Data", "MemoryData", "WindowData", "DummyData", "Accuracy",
                  "SoftmaxWithLoss", "EuclideanLoss", "HingeLoss", "SigmoidCrossEntropyLoss", "InfogainLoss",
                  "MultinomialLogisticLoss", "ContrastiveLoss", "HDF5Output"}


def read_net(prototxt: str | None, caffemodel: str | None, allow_missing_weights: bool) -> tuple[CaffeNet, dict | None]:
    """Topology from the prototxt (or the caffemodel alone) and the blobs by layer name."""
    if prototxt is None and caffemodel is None:
        raise ModelLoadError("caffe", "give a prototxt, a caffemodel, or both")
    weights = parse_caffemodel(caffemodel) if caffemodel else None
    if prototxt is not None:
        topo = parse_prototxt(prototxt)
        if weights is not None:
            topo.warnings += weights.warnings
    else:
        topo = weights
    blobs = weights.blobs if weights is not None else None
    if blobs is None and not allow_missing_weights:
        from ...flags import flag

        stem = Path(prototxt or "net.prototxt").with_suffix(".caffemodel").name
        raise ModelLoadError(prototxt or "", f"no caffemodel given and no {stem} beside it; pass "
                                             f"{flag('weights', 'FILE.caffemodel')}, or "
                                             f"{flag('allow_missing_weights')} to convert with zero-filled weights")
    return topo, blobs


def _inputs(net, where: str) -> list[tuple[str, tuple[int, ...]]]:
    """Net-level inputs in the legacy spellings (input + input_shape / input_dim)."""
    out = []
    names = list(net.input)
    if len(net.input_shape):
        for name, shp in zip(names, net.input_shape):
            out.append((name, tuple(shp.dim)))
    elif len(net.input_dim):
        dims = list(net.input_dim)
        if len(dims) != 4 * len(names):
            raise ModelLoadError(where, f"{len(names)} inputs need {4 * len(names)} input_dim values, "
                                                   f"got {len(dims)}")
        for k, name in enumerate(names):
            out.append((name, tuple(dims[4 * k:4 * k + 4])))
    elif names:
        raise ModelLoadError(where, f"inputs {names} have no input_shape / input_dim")
    return out


def build_graph(cn: CaffeNet, blobs: dict | None, allow_missing_weights: bool, where: str,
                budget=None, gaps: list | None = None) -> tuple[Graph, list[str]]:
    """The IR of a Caffe net. With ``gaps`` (the pre-flight check), unsupported layers are
    appended there instead of raised, and pass their first bottom through as their tops."""
    net = cn.net
    layers = [l for l in net.layer if in_test_phase(l)]
    problems = _preflight(layers)
    if problems and gaps is None:
        raise UnsupportedError(problems, where)
    skipped = {p.layer for p in problems}
    state = _start(net, layers, allow_missing_weights, where, budget)
    available: list[str] = list(net.input)  # blobs no later layer has read yet: the outputs
    poisoned: set[str] = set()  # tops of layers that could not be built
    for i, l in enumerate(layers):
        _track_unread(available, l)
        _import_layer(state, l, i, blobs, l.name in skipped, poisoned, gaps)
    if state.load_errors:
        raise ModelLoadError(where, "weights do not fit the net:\n  " + "\n  ".join(state.load_errors))
    b = state.b
    for blob in available:
        if blob in state.values and blob not in net.input:
            b.output(state.values[blob], "float32", state.shapes[blob])
    if gaps is not None:
        gaps += problems + b.problems
        b.problems.clear()
    if b.problems:
        raise UnsupportedError(b.problems, where)
    validate(b.graph)
    return b.graph, list(cn.warnings) + _state_warnings(state)


def _preflight(layers) -> list[Unsupported]:
    """Every layer type that cannot be imported, all at once."""
    problems = []
    for l in layers:
        if l.type == "Python":
            mod = l.python_param.module if l.HasField("python_param") else "?"
            problems.append(Unsupported(l.name, "Python", "python_param.module", mod,
                                        "Python layers run arbitrary code and are never executed"))
        elif l.type in _NOT_INFERENCE:
            problems.append(Unsupported(l.name, l.type, hint="a data/loss layer; convert a deploy prototxt"))
        elif CAFFE_LAYERS.lookup(l.type) is None:
            problems.append(Unsupported(l.name, l.type or "(no type)", hint="unknown Caffe layer type"))
    return problems


def _start(net, layers, allow_missing_weights: bool, where: str, budget) -> NetState:
    """The builder and the import state, with the net's inputs declared."""
    blob_names = set(net.input)
    last_writer: dict[str, int] = {}
    for i, l in enumerate(layers):
        blob_names.update(l.top)
        blob_names.update(l.bottom)
        for t in l.top:
            last_writer[t] = i
    b = CaffeBuilder(net.name or Path(where).stem or "caffe", blob_names)
    state = NetState(b, last_writer, allow_missing_weights)
    state.where = where  # named in load errors
    state.budget = budget  # limits.Budget: constants the layers create count against it
    for name, shape in _inputs(net, where):
        limits.check_dims(where, f"input {name!r}", shape)
        v = b.claim(name)
        b.graph.inputs.append(Value(v, "float32", shape))
        state.values[name], state.shapes[name] = v, shape
    return state


def _track_unread(available: list[str], layer) -> None:
    for bt in layer.bottom:
        if bt in available:
            available.remove(bt)
    for t in layer.top:
        if t not in available:
            available.append(t)


def _import_layer(state: NetState, l, i: int, blobs: dict | None, skipped: bool, poisoned: set[str],
                  gaps: list | None) -> None:
    """One layer through its handler; a layer after one that failed is not built."""
    b = state.b
    if any(bt in poisoned for bt in l.bottom):
        poisoned.update(l.top)
        return
    missing = [bt for bt in l.bottom if bt not in state.values]
    if missing:
        b.unsupported(l.name, l.type, "bottom", missing, "blob is never produced by an earlier layer or input")
        poisoned.update(l.top)
        return
    if skipped:  # only when bridging: the pre-flight listed it
        _bridge(state, l, poisoned)
        return
    raw = blobs.get(l.name) if blobs is not None else None
    b.source = Source("caffe", l.type, l.name)
    try:
        CAFFE_LAYERS.lookup(l.type)(LayerContext(state, l, i, raw), l)
    except UnsupportedAttributeError as e:
        b.attribute_error(l.name, l.type, e)
        if gaps is None:
            poisoned.update(l.top)
        else:
            _bridge(state, l, poisoned)
    b.source = None


def _state_warnings(state: NetState) -> list[str]:
    warnings = list(state.warnings)
    if state.zero_filled:
        warnings.append(f"no weights: {len(state.zero_filled)} layer(s) zero-filled "
                        f"({', '.join(state.zero_filled[:8])}{', ...' if len(state.zero_filled) > 8 else ''})")
    return warnings


def _bridge(state, layer, poisoned: set) -> None:
    """Tops take the first bottom's value and shape (pre-flight only: the layers after an
    unsupported one are still checked against the exporter)."""
    if not layer.bottom:
        poisoned.update(layer.top)
        return
    for t in layer.top:
        state.values[t], state.shapes[t] = state.values[layer.bottom[0]], state.shapes[layer.bottom[0]]
