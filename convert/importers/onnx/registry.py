"""The ONNX op registry: ``@register("Conv") def import_conv(ctx, node)``; ``since=`` is
the opset version from which a handler's reading of the op applies.

A handler registered for an ONNX op that has an IR op of the same name produces that IR
op (``same()`` emits it under the ONNX name); ``ir_ops`` records it for the support matrix,
which reads the other IR ops a handler emits from its code."""
from __future__ import annotations

from typing import Callable

from ...ir.optable import OPS
from ...registry import Registry

ONNX_OPS: Registry = Registry("onnx importer")


def register(*keys: str, since: int = 0) -> Callable:
    def deco(fn):
        try:
            fn.ir_ops = set(getattr(fn, "ir_ops", ())) | {k for k in keys if k in OPS}
        except AttributeError:  # a bound method or builtin: nothing to record
            pass
        return ONNX_OPS.register(*keys, since=since)(fn)

    return deco
