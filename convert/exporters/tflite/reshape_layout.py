"""Reshapes that keep a computed value's stored layout: a reshape that only splits or merges
runs of adjacent IR axes can run on the stored tensor directly when each run is contiguous
and in IR order there, the output taking the stored position of its run. A channel shuffle
(N, C, H, W) -> (N, g, C/g, H, W) -> transpose -> (N, C, H, W) so costs one TRANSPOSE in a
channels-last graph (the merge's run is out of order after the transpose) instead of one
into IR order and one back for every reshape."""
from __future__ import annotations

from ...ir.perm import Perm


def _dim(d) -> int:
    return d if isinstance(d, int) and d >= 0 else -1


def axis_groups(src, dst) -> list[tuple[list[int], list[int]]] | None:
    """Runs of ``src`` axes and the ``dst`` axes each becomes (equal element counts), in
    order; None where a dynamic axis is not kept as it is or a size is 0. Trailing unit
    axes join the last run."""
    a, b = [_dim(d) for d in src], [_dim(d) for d in dst]
    if 0 in a or 0 in b:
        return None
    groups: list[tuple[list[int], list[int]]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        if (a[i] < 0) != (b[j] < 0):
            return None
        ins, outs, pa, pb = [i], [j], a[i], b[j]
        i, j = i + 1, j + 1
        while pa != pb:
            if pa < pb and i < len(a) and a[i] > 0:
                ins.append(i)
                pa *= a[i]
                i += 1
            elif pb < pa and j < len(b) and b[j] > 0:
                outs.append(j)
                pb *= b[j]
                j += 1
            else:
                return None
        groups.append((ins, outs))
    if not groups or any(d != 1 for d in a[i:] + b[j:]):
        return None
    groups[-1][0].extend(range(i, len(a)))
    groups[-1][1].extend(range(j, len(b)))
    return groups


def grouped_layout(perm: Perm, src, dst) -> tuple[Perm, Perm] | None:
    """(layout to read the input in, layout of the output) for a reshape ``src`` -> ``dst``
    of a value stored as ``perm``: the input layout is ``perm`` with each run's axes put in
    IR order where they already sit together. None where a run is split in storage."""
    groups = axis_groups(src, dst)
    if groups is None:
        return None
    owner = {ax: g for g, (ins, _) in enumerate(groups) for ax in ins}
    order: list[int] = []  # runs in stored order
    for p in perm:
        if not order or order[-1] != owner[p]:
            if owner[p] in order:
                return None  # the run's axes are apart in storage
            order.append(owner[p])
    want = tuple(ax for g in order for ax in groups[g][0])
    out = tuple(ax for g in order for ax in groups[g][1])
    return want, out
