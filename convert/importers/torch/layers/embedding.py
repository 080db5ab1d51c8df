"""Embedding lookups."""
from __future__ import annotations

from ..context import TorchContext
from ..registry import register


@register("aten.embedding.default", emits=("Gather",))
def import_embedding(ctx: TorchContext, node) -> str:
    w, ids = ctx.args(node)[:2]
    return ctx.op("Gather", ctx.v(w), ctx.v(ids), axis=0)
