"""Writes into slices of a constant, folded: ``m = x.new_zeros(h, w); m[a:b, c:d] = k``.

torch.export keeps such code as ``fill_``/``copy_``/``zero_`` on ``aten.slice``/``aten.select``
views of the constant, and later reads the constant itself (torchvision's Swin builds its
shifted-window mask so). Rebinding the view (mutation.py) would miss that reader; when the
root and the written value are both constants, the write is done here in numpy and every
name of that memory (the root, its views, earlier in-place results) is rebound to its new
constant. Anything else (a computed root or value, another kind of view) is left to the
walk, which refuses it by node name.
"""
from __future__ import annotations

import numpy as np

from . import mutation
from .context import Param, TorchContext, is_fx

_SLICE, _SELECT = "aten.slice.Tensor", "aten.select.int"
_WRITES = {"aten.fill_.Scalar", "aten.fill_.Tensor", "aten.zero_.default", "aten.copy_.default"}


def _chain(ctx: TorchContext, node, root) -> list | None:
    """The slice/select nodes from ``root`` to ``node`` (in-place results stand for their
    argument), outermost last; None when another op lies between them."""
    chain = []
    while node is not root:
        if not is_fx(node) or node.op != "call_function" or not node.args:
            return None
        key = str(node.target)
        if key in (_SLICE, _SELECT):
            chain.append(node)
        elif not mutation.is_inplace(key):
            return None
        node = node.args[0]
    return chain[::-1]


def _view(ctx: TorchContext, array: np.ndarray, chain: list) -> np.ndarray | None:
    """The numpy view the chain selects (numpy slicing clamps and wraps as torch does for
    a positive step)."""
    for n in chain:
        args = ctx.args(n)
        dim = int(args[1]) % array.ndim
        if str(n.target) == _SELECT:  # a one-wide slice squeezed: a view even down to 0-d
            if not isinstance(args[2], int):
                return None
            i = args[2] % array.shape[dim]
            array = np.squeeze(array[(slice(None),) * dim + (slice(i, i + 1),)], axis=dim)
            continue
        start, end, step = (list(args[2:5]) + [None, None, None])[:3]
        if any(a is not None and not isinstance(a, int) for a in (start, end, step)) or (step or 1) < 1:
            return None
        array = array[(slice(None),) * dim + (slice(start, end, step),)]
    return array


def _written(ctx: TorchContext, n, key: str):
    if key == "aten.zero_.default":
        return np.asarray(0)
    return ctx.array(n.args[1]) if len(n.args) > 1 else None


def fold(ctx: TorchContext, n, key: str) -> bool:
    """Do the write ``n`` into a slice view of a constant at conversion time; False when
    it is not such a write (nothing changed then)."""
    if key not in _WRITES:
        return False
    root = ctx.aliases.memory[n.args[0]]
    base, value = ctx.array(root), _written(ctx, n, key)
    if base is None or value is None:
        return False
    pos = ctx.aliases.order[n]
    names = [m for m, mem in ctx.aliases.memory.items() if mem is root and ctx.aliases.order[m] <= pos]
    chains = {m: _chain(ctx, m, root) for m in names}
    if any(c is None for c in chains.values()):
        return False
    new = np.array(base, copy=True)
    target = _view(ctx, new, chains[n])
    if target is None:
        return False
    try:
        target[...] = np.broadcast_to(np.asarray(value).astype(new.dtype), target.shape)
    except ValueError:  # not broadcastable: torch would have failed too
        return False
    views = {m: _view(ctx, new, chain) for m, chain in chains.items()}
    if any(v is None for v in views.values()):
        return False
    for m, view in views.items():  # every name of the memory, up to this write, sees it
        ctx.env[m] = Param(f"{m.name}_folded", np.ascontiguousarray(view))
    return True
