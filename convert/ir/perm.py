"""Axis permutations, as a Transpose's ``perm`` reads them."""
from __future__ import annotations

Perm = tuple[int, ...]


def identity(rank: int) -> Perm:
    return tuple(range(rank))


def inverse(perm: Perm) -> Perm:
    """The perm that undoes ``perm``."""
    out = [0] * len(perm)
    for i, p in enumerate(perm):
        out[p] = i
    return tuple(out)


def compose(first: Perm, then: Perm) -> Perm:
    """Transpose(Transpose(x, first), then) == Transpose(x, compose(first, then))."""
    return tuple(first[i] for i in then)
