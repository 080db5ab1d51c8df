"""Output shapes that ONNX's whole-graph shape inference left unknown, inferred again for
one node from the importer's own knowledge: the constants it folded (a split length or
slice end computed by ``Shape -> Div -> Cast``, as ONNX function bodies write them) and the
shapes it already refined upstream. ONNX's inference stops at the first operand it cannot
evaluate; with those operands as constants its per-op rules give static sizes again."""
from __future__ import annotations

import numpy as np

from .context import ImportContext
from .read import IR_DTYPE

_ONNX_TYPE = {v: k for k, v in IR_DTYPE.items()}
# Constants passed to the one-node model by value (shape operands are small; a large
# weight only needs its type and shape).
_BY_VALUE_BYTES = 4096
# Ops whose outputs depend on subgraphs or on data: nothing to refine from one node.
_SKIP = {"If", "Loop", "Scan", "NonZero", "Unique", "NonMaxSuppression"}


def _unknown(ctx: ImportContext, name: str) -> bool:
    shape = ctx.info.get(name, (None, None))[1]
    return shape is None or any(isinstance(d, str) and d.startswith("unk__") for d in shape)


def refine(ctx: ImportContext, node) -> None:
    """Fill ``ctx.info`` for ``node``'s outputs whose shapes are unknown, where inferring the
    node alone with the known constants and input shapes gives more."""
    outs = [o for o in node.output if o]
    if node.op_type in _SKIP or not outs or not any(_unknown(ctx, o) for o in outs):
        return
    from onnx import TensorProto, helper, numpy_helper, shape_inference

    inputs, inits = [], []
    for name in dict.fromkeys(i for i in node.input if i):
        const = ctx.consts.get(name)
        if const is not None and const.nbytes <= _BY_VALUE_BYTES and const.dtype != object:
            inits.append(numpy_helper.from_array(np.asarray(const), name))
            continue
        dtype, shape = (str(const.dtype), const.shape) if const is not None else ctx.info.get(name, (None, None))
        if dtype not in _ONNX_TYPE or shape is None:
            return  # an operand of unknown type or rank: the node alone says no more
        dims = [None if isinstance(d, str) and d.startswith("unk__") else d for d in shape]
        inputs.append(helper.make_tensor_value_info(name, _ONNX_TYPE[dtype], dims))
    graph = helper.make_graph([node], "refine", inputs, [], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ctx.opset)])
    try:
        inferred = shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:  # noqa: BLE001  (a help only: the handler says what it lacks)
        return
    for vi in inferred.graph.value_info:
        if vi.name not in outs or not vi.type.HasField("tensor_type") or not _unknown(ctx, vi.name):
            continue
        t = vi.type.tensor_type
        if not t.HasField("shape") or t.elem_type == TensorProto.UNDEFINED:
            continue
        old_dtype, old = ctx.info.get(vi.name, (None, None))
        dims = []
        for k, d in enumerate(t.shape.dim):
            if d.HasField("dim_value"):
                dims.append(int(d.dim_value))
            elif d.dim_param:
                dims.append(d.dim_param)
            elif old is not None and len(old) == len(t.shape.dim):
                dims.append(old[k])
            else:
                dims.append(f"unk__{vi.name}__{k}")
        if old is not None and len(old) == len(dims):  # never replace a named dynamic dim
            dims = [o if isinstance(o, str) and not o.startswith("unk__") else d for o, d in zip(old, dims)]
        ctx.info[vi.name] = (old_dtype or IR_DTYPE.get(t.elem_type), tuple(dims))
