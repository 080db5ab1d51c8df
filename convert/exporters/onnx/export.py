"""IR -> ONNX ModelProto; files with external data when the model passes 2 GiB."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import numpy as np

from ...errors import Unsupported, UnsupportedError
from ...ir.graph import Graph, Node
from ...ir.optable import OPS
from ..common import run_handlers
from . import attention, dynamic_ops, math_ops, pool_ops, shape_ops  # noqa: F401  (registers handlers)
from .context import ONNX_DTYPE, OnnxContext
from .registry import ONNX_HANDLERS
from .since import onnx_since
from .stream import EXTERNAL_MIN_BYTES, DataFile
from . import stream, wire

Progress = Callable[[int, int], None]  # (done, total)

DEFAULT_OPSET = 17
MIN_OPSET = 13
PROTOBUF_LIMIT = 2**31 - 1
# Above this many weight bytes the weights go to an external data file.
EXTERNAL_THRESHOLD = int(1.8 * 2**30)


@functools.lru_cache(maxsize=None)
def max_opset() -> int:
    """The newest default-domain opset that both onnx and onnxruntime accept."""
    import onnx
    import onnxruntime as ort
    from onnx import helper, TensorProto

    top = onnx.defs.onnx_opset_version()
    for v in range(top, MIN_OPSET - 1, -1):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
        g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe", [x], [y])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", v)], ir_version=_ir_version(v))
        try:
            ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
            return v
        except Exception:
            continue
    return MIN_OPSET


# The IR version onnx.helper.VERSION_TABLE pairs with each default-domain opset (its first
# row for that opset), so writing a model needs no onnx import; newer opsets ask onnx.
IR_VERSIONS = {1: 3, 5: 3, 6: 3, 7: 3, 8: 3, 9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8,
               18: 8, 19: 9, 20: 9, 21: 10, 22: 10, 23: 11, 24: 12, 25: 13, 26: 13, 27: 13, 28: 14}


def _ir_version(opset: int) -> int:
    if opset in IR_VERSIONS:
        return IR_VERSIONS[opset]
    from onnx import helper

    for row in helper.VERSION_TABLE:
        if row[2] == opset:
            return row[1]
    return helper.VERSION_TABLE[-1][1]


# Every onnx/onnxruntime release the package allows (onnx>=1.16, onnxruntime>=1.18) runs
# these opsets, so they need no probe (which would import onnxruntime on every export).
ALWAYS_SUPPORTED = 20


def check_opset(opset: int) -> None:
    from ...errors import UsageError

    if MIN_OPSET <= opset <= ALWAYS_SUPPORTED:
        return
    top = max_opset()
    if not MIN_OPSET <= opset <= top:
        raise UsageError(f"--opset {opset} is outside the supported range {MIN_OPSET}..{top}")


def unsupported_ops(graph: Graph, opset: int) -> list[Unsupported]:
    """Every node no handler writes at ``opset`` and whose op the ONNX default domain lacks there."""
    return [u for _, u in _unwritable(graph, opset)]


def _first_writable(op: str, opset: int) -> int | None:
    """``opset`` when a handler or the default domain writes ``op`` there, else the first
    later opset that does (None: none does)."""
    if ONNX_HANDLERS.lookup(op, opset) is not None:
        return opset
    later = [v for v in ONNX_HANDLERS._handlers.get(op, {}) if v > opset]
    if OPS[op].onnx:
        later.append(onnx_since(op, opset))
    later = [v for v in later if v is not None]
    return min(later) if later else None


def _unwritable(graph: Graph, opset: int) -> list[tuple[Node, Unsupported]]:
    out = []
    for n in graph.nodes:
        first = _first_writable(n.op, opset)
        if first == opset:
            continue
        hint = f"needs opset >= {first} (pass --opset {first})" if first is not None else "no ONNX export"
        src = n.source
        out.append((n, Unsupported(src.layer_name if src else n.name, n.op, hint=hint)))
    return out


def inference_opset(graph: Graph) -> int:
    """The opset an internal rendering for ONNX shape and type inference uses: the default,
    or the first that writes every node where some op is newer (DeformConv: 19)."""
    firsts = [_first_writable(n.op, DEFAULT_OPSET) for n in graph.nodes]
    return min(max([DEFAULT_OPSET, *(f for f in firsts if f is not None)]), max_opset())


def _passthrough(ctx: OnnxContext, node: Node) -> None:
    """An op the table marks as ONNX's own: the ONNX op of the same name and attributes."""
    ctx.emit(node.op, node.inputs, node.outputs, name=node.name, **node.attrs)


def _value_info(v, dynamic: bool):
    from onnx import helper

    shape = None
    if v.shape is not None:
        shape = [d if isinstance(d, (int, str)) else None for d in v.shape]
    return helper.make_tensor_value_info(v.name, ONNX_DTYPE[v.dtype], shape)


def _tensor(name: str, arr: np.ndarray, external: tuple | None = None):
    from onnx import TensorProto, numpy_helper

    if external is None:
        return numpy_helper.from_array(np.asarray(arr), name)
    location, offset, length = external
    t = TensorProto()
    t.name = name
    t.data_type = ONNX_DTYPE[str(arr.dtype)]
    t.dims.extend(arr.shape)
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", str(length))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def _lower(graph: Graph, opset: int) -> tuple[OnnxContext, list[str]]:
    """Run the handlers: the emitted nodes and the names of the weights they use."""
    check_opset(opset)
    unwritable = _unwritable(graph, opset)
    refused = {n.name for n, _ in unwritable}
    ctx = OnnxContext(graph, opset)
    problems = [u for _, u in unwritable] + run_handlers(
        graph, ctx, ONNX_HANDLERS, "no ONNX export", skip=lambda n: n.name in refused, version=opset,
        fallback=_passthrough)
    if problems:
        raise UnsupportedError(problems, "ONNX export")
    used = {i for n in ctx.nodes for i in n.input} | {v.name for v in graph.outputs}
    return ctx, [name for name in sorted(graph.weights) if name in used]


def _header(ctx: OnnxContext, opset: int) -> dict:
    """The model's fields outside its graph, shared by both writers."""
    from ... import __version__

    # Custom domains (plugin ops) are declared at version 1, each function's own imports too.
    domains = {n.domain for n in ctx.nodes if n.domain} | {
        o.domain for f in ctx.functions.values() for o in f.opset_import if o.domain}
    return {"ir_version": _ir_version(opset), "producer_version": __version__,
            "opsets": [("", opset)] + [(d, 1) for d in sorted(domains)]}


def to_onnx(graph: Graph, opset: int = DEFAULT_OPSET, external_data: str | None = None,
            data_writer=None):
    """Build the ModelProto. With ``external_data`` (a file name relative to the model),
    ``data_writer(name, array) -> (offset, length)`` stores each weight instead of inlining it."""
    ctx, weights = _lower(graph, opset)
    return _model(graph, ctx, weights, _header(ctx, opset), external_data, data_writer)


def _model(graph: Graph, ctx: OnnxContext, weights: list[str], header: dict, external_data: str | None,
           data_writer):
    from onnx import helper

    inits = []
    for name in weights:
        arr = graph.weights[name]
        if external_data and data_writer is not None and arr.nbytes >= EXTERNAL_MIN_BYTES:
            offset, length = data_writer(name, arr)
            inits.append(_tensor(name, arr, (external_data, offset, length)))
        else:
            inits.append(_tensor(name, arr))
    inits += [_tensor(k, v) for k, v in ctx.initializers.items()]
    g = helper.make_graph(
        [n.proto() for n in ctx.nodes], graph.name,
        [_value_info(v, True) for v in graph.inputs],
        [_value_info(v, True) for v in graph.outputs],
        initializer=inits,
    )
    imports = [helper.make_opsetid(d, v) for d, v in header["opsets"]]
    model = helper.make_model(g, opset_imports=imports, producer_name="nnconvert",
                              producer_version=header["producer_version"], ir_version=header["ir_version"],
                              functions=[ctx.functions[k] for k in sorted(ctx.functions)])
    for k, v in sorted(graph.metadata.items()):
        model.metadata_props.add(key=k, value=str(v))
    _fill_output_shapes(model)
    return model


def _fill_output_shapes(model) -> None:
    """Graph outputs must carry a shape for the checker: take them from shape inference."""
    import onnx

    missing = [o for o in model.graph.output if not o.type.tensor_type.HasField("shape")]
    if not missing:
        return
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:
        inferred = None
    known = {o.name: o for o in inferred.graph.output} if inferred is not None else {}
    for o in missing:
        src = known.get(o.name)
        if src is not None and src.type.tensor_type.HasField("shape"):
            o.type.tensor_type.shape.CopyFrom(src.type.tensor_type.shape)


from ...protowire import field_header as _field


_GRAPH_FIELD, _INITIALIZER_FIELD, _RAW_DATA_FIELD = 7, 5, 9


def _write_inline(model, weights: dict[str, np.ndarray], path: Path, progress: Progress | None = None) -> None:
    """Write ``model`` with its external initializers inlined, streaming each weight's
    bytes from its array: no second in-memory copy of the weights. Protobuf accepts
    fields in any order, so the initializers follow the rest of the graph."""
    from onnx import TensorProto

    graph = model.graph
    external = [t for t in graph.initializer if t.data_location == TensorProto.EXTERNAL]
    inline = [t for t in graph.initializer if t.data_location != TensorProto.EXTERNAL]
    entries = []
    for t in external:
        head = TensorProto()
        head.name, head.data_type = t.name, t.data_type
        head.dims.extend(t.dims)
        hb = head.SerializeToString(deterministic=True)
        arr = np.ascontiguousarray(weights[t.name])
        raw = _field(_RAW_DATA_FIELD, arr.nbytes)
        entries.append((_field(_INITIALIZER_FIELD, len(hb) + len(raw) + arr.nbytes), hb, raw, arr))
    del graph.initializer[:]
    graph.initializer.extend(inline)
    gbytes = graph.SerializeToString(deterministic=True)
    glen = len(gbytes) + sum(len(a) + len(b) + len(c) + d.nbytes for a, b, c, d in entries)
    model.ClearField("graph")
    with open(path, "wb") as f:
        f.write(model.SerializeToString(deterministic=True))
        f.write(_field(_GRAPH_FIELD, glen))
        f.write(gbytes)
        for i, (tag, hb, raw, arr) in enumerate(entries, 1):
            f.write(tag)
            f.write(hb)
            f.write(raw)
            f.write(memoryview(arr.reshape(-1).view(np.uint8)))
            if progress is not None:
                progress(i, len(entries))


def _check_skeleton(model: bytes, data_name: str, data_size: int) -> None:
    """Full-check a model whose weights are external references, against a sparse
    placeholder data file: the checker and shape inference never read weight bytes."""
    import shutil
    import tempfile

    import onnx

    tmp = Path(tempfile.mkdtemp(prefix="nnconvert-check-"))
    try:
        with open(tmp / data_name, "wb") as f:
            f.truncate(data_size)
        with open(tmp / "model.onnx", "wb") as f:
            f.write(model)
        onnx.checker.check_model(str(tmp / "model.onnx"), full_check=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_onnx(graph: Graph, path: str | Path, opset: int = DEFAULT_OPSET, external: bool | None = None,
              check: bool = True, progress: Progress | None = None) -> list[Path]:
    """Write ``path`` (and ``path.data`` when external); returns the files written.
    Weights are streamed from their arrays to the file, never copied into the protobuf
    message; ``progress(done, total)`` is called per weight written. The file is encoded
    without importing onnx (stream.py; onnx builds it only for what that encoder does not
    cover); ``check`` runs onnx's full checker on it (weights not read). Callers wanting
    atomicity pass a temporary path and rename (see convert.files)."""
    path = Path(path)
    if external is None:
        external = graph.weight_bytes() > EXTERNAL_THRESHOLD
    data_name = path.name + ".data"
    ctx, weights = _lower(graph, opset)
    header = _header(ctx, opset)
    if external:
        # at most this many go to the data file (small and unused weights do not)
        total = sum(1 for a in graph.weights.values() if a.nbytes >= EXTERNAL_MIN_BYTES)
        writer = DataFile(path.parent / data_name, progress, total)
        try:
            try:
                model = stream.encode(graph, ctx, weights, header, data_name, writer)
            except wire.NeedsOnnx:
                model = _model(graph, ctx, weights, header, data_name, writer)
        finally:
            writer.close()
        if progress is not None and writer.done < total:
            progress(total, total)
        if isinstance(model, tuple):
            stream.write(path, *model)
        else:
            with open(path, "wb") as f:
                f.write(model.SerializeToString(deterministic=True))
        if check:
            import onnx

            onnx.checker.check_model(str(path), full_check=True)
        return [path, path.parent / data_name]
    alloc = DataFile(None)
    try:
        parts = stream.encode(graph, ctx, weights, header)
    except wire.NeedsOnnx:
        model = _model(graph, ctx, weights, header, data_name, alloc)
        if check:
            _check_skeleton(model.SerializeToString(deterministic=True), data_name, alloc.offset)
        _write_inline(model, graph.weights, path, progress)
        return [path]
    if check:
        head, skeleton, tail = stream.encode(graph, ctx, weights, header, data_name, alloc)
        _check_skeleton(head + wire.message(7, b"".join(skeleton)) + tail, data_name, alloc.offset)
    stream.write(path, *parts, progress=progress)
    return [path]
