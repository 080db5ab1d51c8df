"""IR -> LiteRT flatbuffer (``.tflite``), written directly: builtin operators only, no
TensorFlow. Every gap is listed before anything is written."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ...errors import Unsupported, UnsupportedAttributeError, UnsupportedError, UsageError
from ...ir.graph import Graph, Value
from ...ir.perm import identity
from ...progress import Progress, Ticker
from .fusion import FUSION
from ..common import run_handlers_past_gaps
from ...runtime.shapes import infer_shapes
from . import activations, attention, conv, conv_transpose, indexing, logic, math_ops, norms, rnn, shape_ops  # noqa: F401  (registers handlers)
from .context import WEIGHT_MODES, TFLiteContext, buffer_bytes, channels_last
from .registry import TFLITE_HANDLERS
from .runner import METADATA

log = logging.getLogger(__name__)

# A flatbuffer addresses 2 GiB (32-bit offsets). ``save`` stores weights after it (Buffer
# offset/size are 64-bit), so only the graph itself must fit; a flatbuffer holding its weights
# inline (``to_tflite``'s bytes, the int8 calibration run) must fit with them.
MAX_BYTES = 2**31 - 2**24


def weight_mode(precision: str | None = None, quantize: str | None = None) -> str:
    """--precision fp32|fp16 and --quantize dynamic-int8|int8 as one weight storage mode."""
    if quantize and precision not in (None, "fp32"):
        raise UsageError("--quantize and --precision fp16 exclude each other")
    mode = quantize or precision or "fp32"
    if mode not in WEIGHT_MODES:
        raise UsageError(f"the tflite target stores weights as {', '.join(WEIGHT_MODES)}, not {mode!r}")
    return mode


def _io_perm(ctx: TFLiteContext, value: str, nhwc: bool, output: bool = False) -> tuple:
    """The file's layout of an input or output: IR order, or with ``nhwc`` channels-last;
    an output the graph already computes in IR order stays so (it is channels-last when
    the source moved the channels last itself)."""
    rank = len(ctx.ir_shape(value))
    if not nhwc or rank < 3:
        return identity(rank)
    if output and ctx.perm(value) == identity(rank):
        return identity(rank)
    return channels_last(rank)


def _shapes(graph: Graph) -> dict:
    """Every value's shape, by ONNX shape inference on a view of the graph whose large float
    weights are typed inputs instead of initializers: the weights' bytes are not copied into
    (and through) an ONNX model just to learn shapes. The full graph where that view fails."""
    big = {k for k, w in graph.weights.items() if w.size > 4096 and w.dtype.kind == "f"}
    if big:
        view = Graph(graph.name, list(graph.inputs) + [Value(k, str(graph.weights[k].dtype), tuple(graph.weights[k].shape))
                                                         for k in sorted(big)],
                     graph.outputs, graph.nodes, {k: w for k, w in graph.weights.items() if k not in big},
                     graph.values, graph.metadata)
        shapes = infer_shapes(view)
        if all(o and o in shapes and shapes[o] is not None for n in graph.nodes for o in n.outputs[:1]):
            return shapes
    return infer_shapes(graph)


def build(graph: Graph, fuse_activations: bool = False, weights: str = "fp32",
          io_layout: str | None = None) -> tuple[TFLiteContext, list[Unsupported]]:
    """Fill a context with the whole subgraph; the problems, all of them, if any."""
    fused = FUSION.find(graph) if fuse_activations else None
    ctx = TFLiteContext(graph, _shapes(graph), fused, weights)
    # a Keras source already chose its interface layout at import
    nhwc = io_layout == "nhwc" and graph.metadata.get("io_layout") != "nhwc"
    problems: list[Unsupported] = []
    for v in graph.inputs:
        try:
            ctx.out(v.name, _io_perm(ctx, v.name, nhwc), v.dtype)
        except UnsupportedAttributeError as e:
            problems.append(Unsupported(v.name, "input", e.attribute, e.value, e.hint))
    failed = {v.name for v in graph.inputs if not ctx.has(v.name)}
    problems += run_handlers_past_gaps(graph, ctx, TFLITE_HANDLERS, "no LiteRT builtin operator", failed)
    if problems:
        return ctx, problems
    ctx.outputs = []
    for v in graph.outputs:
        try:
            want = _io_perm(ctx, v.name, nhwc, output=True)
            ctx.outputs.append(ctx.get(v.name, want))
            # the tensor may be an alias (an IR Transpose relabels its input's tensor): record
            # it as the output, so the runner reads it back in the output's own IR layout
            ctx.layouts[ctx.tensors[ctx.outputs[-1]].name] = (v.name, want)
        except UnsupportedAttributeError as e:
            problems.append(Unsupported(v.name, "output", e.attribute, e.value, e.hint))
    return ctx, problems


def _inline(ctx: TFLiteContext, what: str) -> memoryview:
    """The flatbuffer with the weights inside it, refused past 2 GiB before any is packed."""
    if ctx.weight_bytes > MAX_BYTES:
        raise UsageError(f"{what} needs the model as one flatbuffer with its weights inside, which holds at most "
                         f"2 GiB ({ctx.weight_bytes} bytes of weights); save() writes larger models "
                         "(weights after the flatbuffer)")
    return _serialize(ctx)


def _built_as(mode: str) -> str:
    return "fp32" if mode == "int8" else mode  # full int8 starts from the float subgraph


def unsupported(graph: Graph, *, precision: str | None = None, quantize: str | None = None,
                **_ignored) -> list[Unsupported]:
    """Every node or attribute the LiteRT target cannot express, all at once (with
    ``quantize='int8'``, also every operator without an int8 form)."""
    mode = weight_mode(precision, quantize)
    ctx, problems = build(graph, weights=_built_as(mode))
    if mode == "int8" and not problems:
        from .quantize import refused

        problems = refused(ctx)
    return problems


def _write(graph: Graph, fuse_activations: bool, precision: str | None, quantize: str | None,
           io_layout: str | None, calibration, serialize: bool = True) -> tuple[TFLiteContext, memoryview | None]:
    mode = weight_mode(precision, quantize)
    calib = None
    if mode == "int8":
        from .quantize import load_calibration

        calib = calibration if isinstance(calibration, dict) else load_calibration(calibration, graph)
    ctx, problems = build(graph, fuse_activations, _built_as(mode), io_layout)
    if problems:
        raise UnsupportedError(problems, "tflite export")
    if mode == "int8":
        from .quantize import quantize as to_int8, ranges, refused

        if refused(ctx):
            raise UnsupportedError(refused(ctx), "tflite int8 quantization")
        names = ([v.name for v in graph.inputs], [v.name for v in graph.outputs])
        to_int8(ctx, ranges(bytes(_inline(ctx, "int8 calibration")), names, calib))
        ctx.weight_mode = "int8"
    return ctx, _inline(ctx, "to_tflite") if serialize else None


def to_tflite(graph: Graph, fuse_activations: bool = True, precision: str | None = None,
              quantize: str | None = None, io_layout: str | None = None,
              calibration: str | Path | dict | None = None) -> tuple[bytes, TFLiteContext]:
    """The flatbuffer bytes of ``graph`` and the context that built them (transpose count,
    weight bytes). ``quantize='int8'`` needs ``calibration`` (an .npz path or arrays by input)."""
    ctx, data = _write(graph, fuse_activations, precision, quantize, io_layout, calibration)
    return bytes(data), ctx


def _serialize(ctx: TFLiteContext, inline: bool = True) -> memoryview:
    """The flatbuffer; with ``inline=False`` the weight buffers hold only their offset and
    size (set by ``_stream``), their bytes left out."""
    import flatbuffers

    S = ctx.S
    g = ctx.graph
    sub = S.SubGraphT()
    sub.tensors, sub.operators, sub.name = ctx.tensors, ctx.operators, "main"
    sub.inputs = ctx.file_inputs or [ctx.values[v.name][0] for v in g.inputs]
    sub.outputs = list(ctx.outputs)
    layouts = {name: [value, list(perm)] for name, (value, perm) in sorted(ctx.layouts.items())}
    meta_buf = S.BufferT()
    meta_buf.data = list(json.dumps({"inputs": [v.name for v in g.inputs], "outputs": [v.name for v in g.outputs],
                                     "tensors": layouts, "weights": ctx.weight_mode,
                                     "weight_bytes": ctx.weight_bytes, "fp32_weight_bytes": ctx.fp32_bytes},
                                    sort_keys=True).encode())
    meta = S.MetadataT()
    meta.name, meta.buffer = METADATA, len(ctx.buffers)
    model = S.ModelT()
    model.version, model.description = 3, "nnconvert"
    model.operatorCodes, model.subgraphs, model.metadata = ctx.opcodes, [sub], [meta]
    model.buffers = ctx.buffers + [meta_buf]
    # sized for everything up front: a growing builder doubles, copying all weights each time
    overhead = 64 * len(ctx.buffers) + 256 * len(ctx.tensors) + 128 * len(ctx.operators)
    builder = flatbuffers.Builder((ctx.weight_bytes if inline else 0) + overhead + len(meta_buf.data) + 2**20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return memoryview(builder.Bytes)[builder.Head():]  # the file's bytes, not copied


def save(graph: Graph, path: str | Path, *, fuse_activations: bool = True, precision: str | None = None,
         quantize: str | None = None, io_layout: str | None = None, calibration: str | Path | None = None,
         progress: Progress | None = None, **_ignored) -> list[Path]:
    """Write a ``.tflite`` file that LiteRT's interpreter runs without nnconvert."""
    path = Path(path)
    if path.suffix != ".tflite":
        raise UsageError(f"{path}: the tflite target writes .tflite files")
    ctx, _ = _write(graph, fuse_activations, precision, quantize, io_layout, calibration, serialize=False)
    with open(path, "wb") as f:
        _stream(ctx, f, progress)
    log.info("tflite: %d operators, %d TRANSPOSE, weights %d bytes (%s)", len(ctx.operators), ctx.transposes,
             ctx.weight_bytes, ctx.weight_mode)
    return [path]


_ALIGN = 64


def _stream(ctx: TFLiteContext, f, progress: Progress | None = None) -> None:
    """Write the flatbuffer without weight bytes, then each weight after it (made, written
    and dropped one at a time), its Buffer holding the absolute offset and size LiteRT reads
    it from: the file never exists in memory whole."""
    blobs = [b for b in ctx.buffers if _size(b)]
    sizes = [_size(b) for b in blobs]
    saved = [b.data for b in blobs]
    for b in blobs:  # nonzero placeholders: the offsets' fields are packed at their final size
        b.data, b.offset, b.size = None, 2**40, 1
    head = len(_serialize(ctx, inline=False))
    if head > MAX_BYTES:
        raise UsageError(f"the LiteRT graph without its weights takes {head} bytes; a flatbuffer holds at most 2 GiB")
    where = offsets(head, sizes)
    for b, at, n in zip(blobs, where, sizes):
        b.offset, b.size = at, n
    data = _serialize(ctx, inline=False)
    if len(data) != head:
        raise AssertionError("flatbuffer size changed with the weights' offsets")
    f.write(data)
    done = len(data)
    tick = Ticker(progress, len(blobs))
    for b, at, old in zip(blobs, where, saved):
        raw = old if old is not None else buffer_bytes(b)
        f.write(bytes(at - done))
        f.write(memoryview(np.ascontiguousarray(raw)))
        done = at + raw.size
        del raw
        tick()
    tick.finish()


def offsets(head: int, sizes: list[int]) -> list[int]:
    """Where each weight of ``sizes`` bytes starts in the file after a flatbuffer of ``head``
    bytes: in order, 64-byte aligned, past 2 GiB and 4 GiB alike (the offsets are uint64)."""
    pos, where = _up(head), []
    for n in sizes:
        where.append(pos)
        pos = _up(pos + n)
    return where


def _size(b) -> int:
    if getattr(b, "make", None) is not None:
        return b.nbytes
    return 0 if b.data is None else int(b.data.size)


def _up(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN
