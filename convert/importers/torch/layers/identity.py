"""Layers that leave their input unchanged at inference: dropout, contiguous/clone/alias/detach."""
from __future__ import annotations

from ....errors import UnsupportedAttributeError
from ..context import TorchContext
from ..registry import register


@register("aten.dropout.default", "aten.feature_dropout.default", "aten.alpha_dropout.default",
          "aten.feature_alpha_dropout.default", emits=("Dropout",))
def import_dropout(ctx: TorchContext, node) -> str:
    x, p, train = ctx.args(node)
    if train:
        raise UnsupportedAttributeError("train", True, "put the model in eval() mode")
    kind = {"dropout": "dropout", "feature_dropout": "spatial"}.get(str(node.target).split(".")[1], "alpha")
    return ctx.node_out("Dropout", [ctx.v(x)], {"ratio": float(p), "kind": kind})[0]


@register("aten.contiguous.default", "aten.clone.default", "aten.alias.default", "aten.detach.default",
          "aten.detach_.default", "aten.lift_fresh_copy.default", "aten.lift_fresh.default", emits=())
def import_passthrough(ctx: TorchContext, node):
    """Copies and aliases compute nothing: the result is the input value itself."""
    return ctx.env[node.args[0]] if hasattr(node.args[0], "meta") else node.args[0]
