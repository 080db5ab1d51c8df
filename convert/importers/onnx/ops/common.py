"""The handler most ops need: the IR op of the same name, ONNX attributes the op table
declares passed through, any other attribute accepted only at its ONNX default."""
from __future__ import annotations

from typing import Iterable

from ....errors import UnsupportedAttributeError
from ....ir.optable import OPS
from ..context import ImportContext


def onnx_default(op_type: str, opset: int, key: str):
    from onnx import defs, helper

    try:
        schema = defs.get_schema(op_type, opset)
    except Exception:  # noqa: BLE001
        return None
    a = schema.attributes.get(key)
    if a is None or not a.default_value.name:
        return None
    v = helper.get_attribute_value(a.default_value)
    return v.decode() if isinstance(v, bytes) else v


def check_defaults(ctx: ImportContext, keys: Iterable[str], hint: str = "") -> None:
    """Raise for the first of ``keys`` set to something other than its ONNX default."""
    for k in keys:
        if k in ctx.attrs and ctx.attrs[k] != onnx_default(ctx.node.op_type, ctx.opset, k):
            raise UnsupportedAttributeError(k, ctx.attrs[k], hint or "only the ONNX default is supported")


# Before opset 7, binary ops and Gemm broadcast only with broadcast=1 (trailing
# alignment, as numpy does) and optionally from ``axis``; consumed_inputs is a
# memory-planning hint.
_LEGACY = {"broadcast", "consumed_inputs", "is_test"}


def _legacy(ctx: ImportContext, key: str, value) -> None:
    if key == "broadcast" and value and "axis" in ctx.attrs and ctx.node.op_type != "Gemm":
        b = ctx.maybe_const(1)
        ranks = ctx.rank(0), (b.ndim if b is not None else ctx.rank(1))
        if None not in ranks and int(ctx.attrs["axis"]) % ranks[0] == ranks[0] - ranks[1]:
            return  # aligned at the end: numpy broadcasting
        raise UnsupportedAttributeError("axis", ctx.attrs["axis"], "opset < 7 broadcasting from an axis")


def ir_attrs(ctx: ImportContext, op: str, drop: Iterable[str] = (), **override) -> dict:
    spec = OPS[op]
    drop = set(drop)
    out = {}
    extra = []
    for k, v in ctx.attrs.items():
        if k in override or k in drop:
            continue
        if k in _LEGACY and ctx.opset < 7:
            _legacy(ctx, k, v)
            continue
        if k in spec.attrs:
            kind = spec.attrs[k].kind
            out[k] = float(v) if kind == "float" else [float(x) for x in v] if kind == "floats" else \
                [int(x) for x in v] if kind == "ints" else v
        elif not (k == "axis" and ctx.opset < 7 and "broadcast" in ctx.attrs):
            extra.append(k)
    check_defaults(ctx, extra)
    out.update({k: v for k, v in override.items() if v is not None})
    return out


def same(ctx: ImportContext, node, op: str | None = None, drop: Iterable[str] = (), outputs=None,
         **override) -> list[str]:
    """Emit the IR op ``op`` (default: the ONNX op type) with the node's inputs."""
    op = op or node.op_type
    inputs = [ctx.x(i) for i in range(len(node.input))]
    while inputs and not inputs[-1]:
        inputs.pop()
    return ctx.emit(op, inputs, ir_attrs(ctx, op, drop, **override), outputs=outputs)


def register_same(register, ops: Iterable[str], since: int = 0) -> None:
    for op in ops:
        def import_same(ctx, node):
            same(ctx, node)

        register(op, since=since)(import_same)
