"""Every layout permutation of the Keras importer, in one place.

A Keras tensor is channels-last; an IR value is a transpose of it. A *layout* is the
permutation ``perm`` with ``ir_value = keras_tensor.transpose(perm)``: the identity is the
Keras (channels-last) order, ``channels_first(rank)`` is the IR's canonical NC(D)HW order,
``TIME_MAJOR`` is the (seq, batch, feature) order of IR recurrent ops. The importer
converts lazily: a value is transposed only when a consumer needs another layout, and
each (value, layout) pair is materialised once.
"""
from __future__ import annotations

from ...ir.perm import Perm, identity, inverse  # noqa: F401  (part of this module's API)

NHWC_TO_NCHW: Perm = (0, 3, 1, 2)
NCHW_TO_NHWC: Perm = (0, 2, 3, 1)
TIME_MAJOR: Perm = (1, 0, 2)  # (batch, seq, feat) <-> (seq, batch, feat)
# Recurrent ops: Y (seq, dirs, batch, hidden) -> (seq, batch, dirs, hidden) before merging directions.
RNN_DIRS_INNER: Perm = (0, 2, 1, 3)
# Keras conv kernels (*k, in, out) -> IR (out, in, *k); Conv*Transpose (*k, out, in) -> IR (in, out, *k).



def channels_first(rank: int) -> Perm:
    """Keras (N, *spatial, C) -> IR (N, C, *spatial); ranks below 3 have no spatial axes."""
    if rank < 3:
        return identity(rank)
    return (0, rank - 1, *range(1, rank - 1))


def kernel_to_oihw(rank: int) -> Perm:
    """Keras kernel (*k, in, out) -> (out, in, *k); also (*k, out, in) -> (in, out, *k)."""
    return (rank - 1, rank - 2, *range(rank - 2))



def between(have: Perm, want: Perm) -> Perm:
    """The Transpose perm taking an IR value in layout ``have`` to layout ``want``."""
    inv = inverse(have)
    return tuple(inv[w] for w in want)


def ir_axis(keras_axis: int, perm: Perm) -> int:
    """Where Keras axis ``keras_axis`` sits in an IR value of layout ``perm``."""
    return perm.index(keras_axis % len(perm))


def apply(shape: tuple, perm: Perm) -> tuple:
    return tuple(shape[p] for p in perm)


def axis_first(rank: int, axis: int) -> Perm:
    """A layout with Keras axis ``axis`` at IR position 1 (for per-channel ops on any axis)."""
    axis %= rank
    if axis == rank - 1:
        return channels_first(rank)
    return (0, axis, *[a for a in range(1, rank) if a != axis])
