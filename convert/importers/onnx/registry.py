"""The ONNX op registry: ``@register("Conv") def import_conv(ctx, node)``; ``since=`` is
the opset version from which a handler's reading of the op applies.

A handler registered for an ONNX op that has an IR op of the same name produces that IR
op (``same()`` emits it under the ONNX name), so each such key declares its own name;
``emits=`` adds the other IR ops a handler builds; ``decomposed=True`` says it builds only
those (an ONNX op written out in other IR ops although the IR has one of its name)."""
from __future__ import annotations

from typing import Callable, Iterable

from ...ir.optable import OPS
from ...registry import Registry

ONNX_OPS: Registry = Registry("onnx importer")


def register(*keys: str, since: int = 0, emits: Iterable[str] | None = None, decomposed: bool = False) -> Callable:
    named = {k: ({k} if not decomposed else set()) | set(emits or ()) for k in keys if k in OPS}
    if emits is not None:
        named.update({k: set(emits) for k in keys if k not in OPS})
    return ONNX_OPS.register(*keys, since=since, emits=named)
