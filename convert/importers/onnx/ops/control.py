"""Control flow: If with a condition known at conversion time is replaced by its branch."""
from __future__ import annotations

from ..context import DataDependent
from ..registry import register


@register("If", emits=())  # the branch's own nodes declare theirs
def import_if(ctx, node):
    from ..importer import convert_subgraph

    cond = ctx.maybe_const(0)
    if cond is None:
        raise DataDependent("cond", ctx.name(0), "an If whose condition is computed at run time (control flow "
                                                 "is not supported)")
    branch = ctx.attrs["then_branch" if bool(cond.reshape(-1)[0]) else "else_branch"]
    outer = ctx.node
    convert_subgraph(ctx, branch)
    ctx.begin(outer)
    for k, out in enumerate(branch.output):
        if out.name in ctx.poisoned:  # an unsupported node inside the branch, already reported
            ctx.poisoned.add(outer.output[k])
        elif out.name in ctx.consts:
            ctx.set_const(k, ctx.consts[out.name])
        elif out.name in ctx.symbolic:
            ctx.symbolic[outer.output[k]] = ctx.symbolic[out.name]
        else:
            ctx.alias(k, ctx.value(out.name))
