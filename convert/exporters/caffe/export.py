"""IR -> Caffe: deploy.prototxt (topology) + .caffemodel (the same net with weights)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...caffe_proto import file_pair
from ...errors import Unsupported, UnsupportedAttributeError, UnsupportedError
from ...ir.graph import Graph
from ...progress import Progress, Ticker
from ...protowire import field_header, varint as _varint
from ...runtime.shapes import infer_shapes
from ..common import run_handlers
from . import activation, conv, elementwise, norm, pool, rnn, shape_ops  # noqa: F401  (registers handlers)
from .context import CaffeContext
from .fusion import FUSION
from .registry import CAFFE_HANDLERS

BATCH = 1  # a symbolic (dynamic) dimension is written as this size: Caffe blobs are static


def static_shapes(graph: Graph, batch: int = BATCH) -> dict[str, tuple]:
    """Shapes of every value with symbolic input dims fixed to ``batch`` (ONNX shape inference)."""
    g = graph.copy()
    for v in g.inputs + g.outputs + list(g.values.values()):
        if v.shape is not None:
            v.shape = tuple(d if isinstance(d, int) else batch for d in v.shape)
    return infer_shapes(g)


def build(graph: Graph, allow_fork: bool = False) -> tuple[CaffeContext | None, list[Unsupported]]:
    """All Caffe layers for ``graph``, or every problem found."""
    shapes = static_shapes(graph)
    # Axes that follow a symbolic input dim (their size changes with it), so reshapes
    # can leave them to Caffe (-1) and the net still reshapes to another batch size.
    dynamic = static_shapes(graph, BATCH + 1) if any(
        not isinstance(d, int) for v in graph.inputs for d in (v.shape or ())) else shapes
    ctx = CaffeContext(graph, shapes, allow_fork, dynamic)
    problems: list[Unsupported] = []
    for v in graph.inputs:
        try:
            shape = ctx.shape(v.name)
        except UnsupportedAttributeError as e:
            problems.append(Unsupported(v.name, "input", e.attribute, e.value, e.hint))
            continue
        lp = ctx.add("Input", [], [v.name], name=v.name)  # Input layers are named after their blob
        lp.input_param.shape.add().dim.extend(shape)
    problems += run_handlers(graph, ctx, CAFFE_HANDLERS, "Caffe has no layer for this op")
    for v in graph.outputs:
        if v.name in graph.weights or v.name in {i.name for i in graph.inputs}:
            problems.append(Unsupported(v.name, "output", "output", v.name,
                                        "a graph output that is an input or a constant has no Caffe layer"))
    if problems:
        return None, problems
    _finish(ctx)
    return ctx, []


def _finish(ctx: CaffeContext) -> None:
    """Make the net's unconsumed blobs exactly the graph outputs: a graph output that a
    later layer also reads is copied (Split) so it stays a net output, and every other
    unconsumed blob goes to one Silence layer."""
    outputs = [v.name for v in ctx.graph.outputs]
    layers = ctx.layers
    ctx.node = None
    for out in outputs:
        idx = next((i for i, l in enumerate(layers) if out in l.proto.top), None)
        if idx is None or not any(out in l.proto.bottom for l in layers[idx + 1:]):
            continue
        inner = ctx.tmp(f"{out}/inner")
        tops = layers[idx].proto.top
        tops[list(tops).index(out)] = inner
        for l in layers[idx + 1:]:
            for k, b in enumerate(l.proto.bottom):
                if b == out:
                    l.proto.bottom[k] = inner
        ctx.add("Split", [inner], [out], name=f"{out}/copy", at=idx + 1)
    consumed = {b for l in layers for b in l.proto.bottom}
    dangling = [t for l in layers for t in l.proto.top if t not in consumed and t not in outputs]
    if dangling:
        ctx.add("Silence", dangling, [], name="silence")


def unsupported(graph: Graph, *, allow_fork: bool = False, **_ignored) -> list[Unsupported]:
    """Every node or attribute the Caffe target cannot express, all at once."""
    return build(graph, allow_fork)[1]


_FUSE_INTO = ("Convolution", "Deconvolution", "InnerProduct")
_IN_PLACE = ("ReLU", "Sigmoid", "TanH", "ELU", "Clip", "AbsVal", "BNLL")


def _in_place_activations(ctx: CaffeContext) -> None:
    """Run each neuron layer that alone reads a Convolution / Deconvolution /
    InnerProduct top in place (top == bottom), as Caffe nets do: one blob less."""
    fused = FUSION.find(ctx.graph)
    layers = ctx.layers
    readers: dict[str, int] = {}
    for l in layers:
        for b in l.proto.bottom:
            readers[b] = readers.get(b, 0) + 1
    for v, act in fused.items():
        if readers.get(v) != 1:
            continue
        prod = next((l for l in layers if v in l.proto.top), None)
        neuron = next((l for l in layers if list(l.proto.bottom) == [v]), None)
        if prod is None or neuron is None or prod.proto.type not in _FUSE_INTO or neuron.proto.type not in _IN_PLACE \
                or len(neuron.proto.top) != 1:
            continue
        t = neuron.proto.top[0]
        tops = prod.proto.top
        tops[list(tops).index(v)] = t
        neuron.proto.bottom[0] = t


def to_caffe(graph: Graph, *, allow_fork: bool = False, fuse_activations: bool = True) -> tuple[Any, list[list[np.ndarray]]]:
    """(NetParameter without weights, blobs per layer in layer order); ``fuse_activations``:
    activations after Convolution/InnerProduct run in place."""
    ctx, problems = build(graph, allow_fork)
    if problems:
        raise UnsupportedError(problems, "Caffe export")
    if fuse_activations:
        _in_place_activations(ctx)
    net = ctx.pb.NetParameter()
    net.name = graph.name or "net"
    for l in ctx.layers:
        net.layer.add().CopyFrom(l.proto)
    return net, [l.blobs for l in ctx.layers]


# -- binary writing: blobs appended as raw packed floats, never copied into protobuf --
def _field(num: int, payload: bytes) -> bytes:
    return field_header(num, len(payload)) + payload


def _blob_bytes(arr: np.ndarray) -> bytes:
    shape = b"".join(_varint(int(d)) for d in arr.shape)
    data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
    return _field(7, _field(1, shape)) + _field(5, data)  # BlobProto.shape{dim}, BlobProto.data


def _caffemodel_parts(net, blobs: list[list[np.ndarray]]):
    """The caffemodel's bytes: the net's header, then one part per layer with its blobs."""
    head = type(net)()
    head.CopyFrom(net)
    del head.layer[:]
    yield head.SerializeToString(deterministic=True)
    for layer, bl in zip(net.layer, blobs):
        body = layer.SerializeToString(deterministic=True) + b"".join(_field(7, _blob_bytes(b)) for b in bl)
        yield _field(100, body)  # NetParameter.layer


def write_caffemodel(path: Path, net, blobs: list[list[np.ndarray]], progress: Progress | None = None) -> None:
    """Stream the caffemodel layer by layer; ``progress(done, total)`` per layer written."""
    tick = Ticker(progress, len(net.layer))
    with open(path, "wb") as f:
        for i, part in enumerate(_caffemodel_parts(net, blobs)):
            f.write(part)
            if i:  # part 0 is the header
                tick()
    tick.finish()


def save(graph: Graph, path: str | Path, *, allow_fork: bool = False, fuse_activations: bool = True,
         progress: Progress | None = None, **_ignored) -> list[Path]:
    """Write deploy.prototxt and the .caffemodel beside it (same stem), deterministically."""
    from google.protobuf import text_format

    proto_path, model_path = file_pair(path)
    net, blobs = to_caffe(graph, allow_fork=allow_fork, fuse_activations=fuse_activations)
    proto_path.write_text(text_format.MessageToString(net), encoding="utf-8")
    write_caffemodel(model_path, net, blobs, progress)
    return [proto_path, model_path] if Path(path) == proto_path else [model_path, proto_path]
