"""ONNX ModelProto -> IR graph: inputs, nodes in order (constants folded, every other node
through its op handler), outputs; every problem gathered before anything is returned."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import ModelLoadError, UnsupportedAttributeError, UnsupportedError
from ...ir.builder import GraphBuilder
from ...ir.graph import Graph
from ...ir.validate import validate
from .context import ImportContext
from .fold import MAX_FOLD_TOTAL_BYTES, evaluate
from .read import IR_DTYPE, to_array, type_name
from .ops import symbolic
from .refine import refine
from .registry import ONNX_OPS

_QUANT = {"DequantizeLinear", "QuantizeLinear", "DynamicQuantizeLinear"}

IO_LAYOUTS = ("nchw", "nhwc")
# Transposes between an NHWC interface and the NCHW graph, by rank.
_TO_NCHW = {3: [0, 2, 1], 4: [0, 3, 1, 2], 5: [0, 4, 1, 2, 3]}
_TO_NHWC = {3: [0, 2, 1], 4: [0, 2, 3, 1], 5: [0, 2, 3, 4, 1]}


def default_opset(model) -> int:
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return int(o.version)
    return 1


def _infer(model, ctx: ImportContext) -> None:
    """Dtype and shape of every value ONNX shape inference can type; unknown dims get
    their own symbolic names so that they never match another dimension."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # noqa: BLE001  (shapes are then unknown; handlers that need one say so)
        inferred = model
    g = inferred.graph
    unknown = 0
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        t = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
        if t is None:
            continue
        shape = None
        if t.HasField("shape"):
            dims = []
            for d in t.shape.dim:
                if d.HasField("dim_value"):
                    dims.append(int(d.dim_value))
                elif d.dim_param:
                    dims.append(d.dim_param)
                else:
                    unknown += 1
                    dims.append(f"unk__{unknown}")
            shape = tuple(dims)
        ctx.info[vi.name] = (IR_DTYPE.get(t.elem_type), shape)


def _interface_shape(ctx: ImportContext, name: str, i: int) -> tuple | None:
    shape = ctx.info.get(name, (None, None))[1]
    if shape is None:
        return None
    return tuple(d if isinstance(d, int) else ("batch" if k == 0 and d.startswith("unk__") else d)
                 for k, d in enumerate(shape))


def build_graph(model, where: str, io_layout: str = "nchw") -> tuple[Graph, list[str], dict[str, str]]:
    """The IR graph, warnings, and the IR name of every graph input/output (by ONNX name)."""
    from ...errors import UsageError

    if io_layout not in IO_LAYOUTS:
        raise UsageError(f"io_layout must be one of {IO_LAYOUTS} for ONNX models, got {io_layout!r}")
    g = model.graph
    opset = default_opset(model)
    b = GraphBuilder(g.name or Path(where).stem or "onnx", "onnx")
    ctx = ImportContext(b, opset, where)
    _infer(model, ctx)
    for t in g.initializer:
        ctx.consts[t.name] = to_array(t, where)
    ctx.used = _reads(g)
    for t in g.sparse_initializer:
        b.unsupported(t.values.name, "sparse_initializer", hint="sparse tensors are not supported")
    interface: dict[str, str] = {}
    for vi in g.input:
        if vi.name in ctx.consts:
            continue  # IR < 4 lists initializers as inputs too
        _graph_input(ctx, vi, io_layout, interface)

    for node in g.node:
        _convert_node(ctx, node, ctx.poisoned)
    for vi in g.output:
        if vi.name not in ctx.poisoned:
            _graph_output(ctx, vi, io_layout, interface)
    if b.problems:
        raise UnsupportedError(b.problems, where)
    b.graph.metadata.update({"source_framework": "onnx", "onnx_opset": str(opset),
                             "producer": f"{model.producer_name} {model.producer_version}".strip()})
    validate(b.graph)
    return b.graph, ctx.warnings, interface


def _graph_input(ctx: ImportContext, vi, io_layout: str, interface: dict) -> None:
    b = ctx.b
    t = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
    dtype = IR_DTYPE.get(t.elem_type) if t is not None else None
    if dtype is None:
        what = type_name(t.elem_type) if t is not None else vi.type.WhichOneof("value")
        b.unsupported(vi.name, "graph input", "type", what, "the IR holds numeric tensors only")
        return
    shape = _interface_shape(ctx, vi.name, 0)
    nhwc = io_layout == "nhwc" and shape is not None and len(shape) in _TO_NCHW
    if nhwc:
        perm = _TO_NHWC[len(shape)]
        shape = tuple(shape[p] for p in perm)
    name = b.input(vi.name, dtype, shape)
    interface[vi.name] = name
    if nhwc:
        b.source = None
        name = b.op("Transpose", name, name=f"{name}/to_nchw", perm=_TO_NCHW[len(shape)])
    ctx.names[vi.name] = name


def _graph_output(ctx: ImportContext, vi, io_layout: str, interface: dict) -> None:
    b = ctx.b
    b.source = None
    if vi.name in ctx.consts:
        value = ctx.value(vi.name)
        value = b.op("Constant", name=vi.name, weight=value)
    elif vi.name in ctx.names:
        value = ctx.names[vi.name]
    else:
        b.unsupported(vi.name, "graph output", hint="computed from shapes only (a data-dependent shape)"
                      if vi.name in ctx.symbolic else "never produced")
        return
    dtype, shape = ctx.info.get(vi.name, (None, None))
    if dtype is None:
        dtype = str(ctx.consts[vi.name].dtype) if vi.name in ctx.consts else "float32"
    if shape is not None:
        shape = tuple("batch" if isinstance(d, str) and d.startswith("unk__") and k == 0 else d
                      for k, d in enumerate(shape))
    if io_layout == "nhwc" and shape is not None and len(shape) in _TO_NHWC:
        perm = _TO_NHWC[len(shape)]
        value = b.op("Transpose", value, name=f"{vi.name}/to_nhwc", perm=perm)
        shape = tuple(shape[p] for p in perm)
    taken = {v.name for v in b.graph.inputs + b.graph.outputs}
    if value in taken or value in b.graph.weights:  # an output must be its own value
        value = b.op("Identity", value, name=vi.name)
    b.output(value, dtype, shape)
    interface[vi.name] = value


def _convert_node(ctx: ImportContext, node, poisoned: set[str]) -> None:
    b = ctx.b
    label = node.name or (node.output[0] if node.output else node.op_type)
    if any(i in poisoned for i in node.input if i):
        poisoned.update(o for o in node.output if o)
        return
    if node.domain not in ("", "ai.onnx"):
        b.unsupported(label, f"{node.domain}.{node.op_type}", hint=f"operator domain {node.domain!r} is not "
                                                                      "supported (default ONNX domain only)")
        poisoned.update(o for o in node.output if o)
        return
    ins = [i for i in node.input if i]
    if all(i in ctx.consts for i in ins):
        results = evaluate(node, [ctx.consts.get(i) if i else None for i in node.input], ctx.opset)
        if results is not None:
            ctx.folded_bytes += sum(np.asarray(r).nbytes for r in results)
            if ctx.folded_bytes > MAX_FOLD_TOTAL_BYTES:
                raise ModelLoadError(ctx.where, f"constants computed by the graph pass {MAX_FOLD_TOTAL_BYTES} bytes "
                                                f"at node {label!r} (corrupted or hostile file?)")
            for o, r in zip([o for o in node.output if o], results):
                ctx.consts[o] = np.asarray(r)
            if node.op_type in _QUANT:
                ctx.warnings.append(f"{label}: {node.op_type} of a constant folded into a float weight "
                                    "(the quantization is not kept)")
            return
    if symbolic.evaluate(ctx, node) or symbolic.propagate_fill(ctx, node):
        ctx.b.source = None
        return
    handler = ONNX_OPS.lookup(node.op_type, ctx.opset)
    if handler is None:
        later = [v for v in ONNX_OPS._handlers.get(node.op_type, {}) if v > ctx.opset]
        hint = "no ONNX importer for this op" if not later else f"supported from opset {min(later)}"
        b.unsupported(label, node.op_type, hint=hint)
        poisoned.update(o for o in node.output if o)
        return
    refine(ctx, node)
    ctx.begin(node)
    try:
        handler(ctx, node)
    except UnsupportedAttributeError as e:
        b.attribute_error(label, node.op_type, e)
        poisoned.update(o for o in node.output if o)
    b.source = None
    ctx.node = None


def _reads(graph) -> set[str]:
    """Every value a node (subgraphs included) or a graph output reads."""
    out = {o.name for o in graph.output}
    for n in graph.node:
        out.update(i for i in n.input if i)
        for a in n.attribute:
            for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                out |= _reads(sub)
    return out


def convert_subgraph(ctx: ImportContext, graph) -> None:
    """Import the nodes of a subgraph (an If branch) into the enclosing graph; its values
    join the enclosing scope."""
    for t in graph.initializer:
        ctx.consts[t.name] = to_array(t, ctx.where)
    for node in graph.node:
        _convert_node(ctx, node, ctx.poisoned)
