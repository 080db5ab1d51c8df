"""LiteRT (``.tflite``) -> IR: the flatbuffer is read without TensorFlow; int8 and fp16
weights are dequantized to float (with a warning); verification runs LiteRT's interpreter."""
from __future__ import annotations

from pathlib import Path

from ...errors import ModelLoadError, UnsupportedAttributeError
from ...ir.builder import GraphBuilder
from ...ir.graph import Source
from ...loaded import LoadedModel
from . import conv_nd, ops  # noqa: F401  (registers handlers)
from .context import TFLiteImportContext
from .reader import read
from .registry import TFLITE_OPS

MAX_FILE_BYTES = 2**31  # a flatbuffer addresses 2 GiB


def _dims(shape, name: str) -> list:
    return ["batch" if i == 0 and d < 0 else (d if d >= 0 else f"{name}_d{i}") for i, d in enumerate(shape)]


# operand positions a handler reads only the static shape or constant value of
_SHAPE_ONLY = {"TRANSPOSE_CONV": {0}}


def _live_ops(f) -> set[int]:
    """Indices of the ops the graph outputs depend on. The ops computing TRANSPOSE_CONV's
    output shape at run time (SHAPE, slices) are left out: the importer takes the size
    from the output tensor."""
    producer = {t: op for op in f.ops for t in op.outputs}
    live, todo = set(), [producer[t] for t in f.outputs if t in producer]
    while todo:
        op = todo.pop()
        if op.index in live:
            continue
        live.add(op.index)
        skip = _SHAPE_ONLY.get(op.code, set())
        todo.extend(producer[t] for i, t in enumerate(op.inputs) if i not in skip and t in producer)
    return live


def from_tflite(path: str) -> tuple:
    """(IR graph, tensor name -> IR value, dequantized weight names) of a ``.tflite`` file."""
    p = Path(path)
    if p.stat().st_size > MAX_FILE_BYTES:
        raise ModelLoadError(path, "over 2 GiB: not a LiteRT flatbuffer")
    f = read(path, p.read_bytes())
    b = GraphBuilder(p.stem, "tflite")
    ctx = TFLiteImportContext(f, b)
    for t in f.inputs:
        ten = f.tensors[t]
        if ten.ir_dtype is None:
            raise ModelLoadError(path, f"input {ten.name!r} has type {ten.dtype}")
        ctx.set(t, b.input(ten.name, ten.ir_dtype, _dims(ten.shape, "in")))
    live = _live_ops(f)
    for op in f.ops:
        if op.index not in live:
            continue
        out_name = f.tensors[op.outputs[0]].name if op.outputs else op.code
        b.source = Source("tflite", op.code, out_name)
        handler = TFLITE_OPS.lookup(op.code)
        if handler is None:
            b.unsupported(out_name, op.custom or op.code, hint="no IR import for this LiteRT operator")
            continue
        if any(t >= 0 and t not in ctx.values and t not in ctx.consts and f.tensors[t].data is None
               and not f.tensors[t].variable and i not in _SHAPE_ONLY.get(op.code, ())
               for i, t in enumerate(op.inputs)):
            continue  # downstream of a gap already listed
        try:
            handler(ctx, op)
        except UnsupportedAttributeError as e:
            b.attribute_error(out_name, op.code, e)
    b.source = None
    for t in f.outputs:
        if t in ctx.values:
            ten = f.tensors[t]
            b.output(ctx.values[t], ten.ir_dtype or "float32", _dims(ten.shape, "out"))
    graph = b.finish(path)
    graph.metadata.update({"source_framework": "tflite", "io_layout": "nhwc"})
    return graph, ctx.tensor_values, sorted(set(ctx.dequantized))


def load(path: str, **_ignored) -> LoadedModel:
    graph, tensor_values, dequantized = from_tflite(path)
    warnings = []
    if dequantized:
        warnings.append(f"{len(dequantized)} quantized/fp16 weight(s) dequantized to float32 "
                        f"(e.g. {dequantized[0]!r}); the converted model computes in float")
    run = run_layers = None
    version = ""
    try:
        from ...exporters.tflite.runner import LiteRTModel

        model = LiteRTModel(path, ([v.name for v in graph.inputs], [v.name for v in graph.outputs]),
                            values=tensor_values)
        run, run_layers = model.run, model.run_layers
        import ai_edge_litert

        version = f"ai-edge-litert {getattr(ai_edge_litert, '__version__', '')}".strip()
    except Exception:  # noqa: BLE001  (no interpreter here: converting still works)
        pass
    return LoadedModel(graph, "tflite", path, run, run_layers, framework_version=version, warnings=warnings)
