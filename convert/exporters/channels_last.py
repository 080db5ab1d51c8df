"""The one place the channels-last writers' (Keras, LiteRT) layout permutations live.

A Keras tensor stands for an IR value through a permutation ``perm``: the Keras tensor
is ``numpy.transpose(ir_value, perm)``. The IR is channels-first (N, C, *spatial); Keras
layers want channels-last (N, *spatial, C). Keeping the permutation with each value,
instead of transposing eagerly, lets an IR Transpose cost nothing and makes the
boundary transposes of a model imported from Keras cancel."""
from __future__ import annotations

import numpy as np

from ..ir.perm import Perm, identity, inverse  # noqa: F401  (part of this module's API)


def channels_last(rank: int) -> Perm:
    """IR (N, C, *spatial) -> Keras (N, *spatial, C): NCHW_TO_NHWC for rank 4."""
    return (0, *range(2, rank), 1)


NCW_TO_NWC = channels_last(3)
NCHW_TO_NHWC = channels_last(4)
NCDHW_TO_NDHWC = channels_last(5)
# Kernels: IR OI(D)HW -> Keras (D)HWIO; ConvTranspose IR IO(D)HW -> Keras (D)HWOI (same permutation).
OIHW_TO_HWIO = {3: (2, 1, 0), 4: (2, 3, 1, 0), 5: (2, 3, 4, 1, 0)}



def relayout(have: Perm, want: Perm) -> Perm:
    """The Keras-side permutation turning a tensor laid out as ``have`` into ``want``."""
    return tuple(have.index(w) for w in want)


def after_transpose(have: Perm, perm: Perm) -> Perm:
    """Layout of ``y = Transpose(x, perm)`` when ``x`` is laid out as ``have`` (no data moves)."""
    return tuple(perm.index(h) for h in have)


def keras_axis(have: Perm, ir_axis: int) -> int:
    return have.index(ir_axis % len(have))


def ir_shape(keras_shape: tuple, have: Perm) -> tuple:
    """The IR shape of a value from its Keras tensor's shape."""
    out = [None] * len(have)
    for i, p in enumerate(have):
        out[p] = keras_shape[i]
    return tuple(out)


def flat_order(ir_dims: tuple, have: Perm) -> np.ndarray:
    """IR flat index of each element of ``Flatten`` applied to the Keras-laid-out tensor."""
    idx = np.arange(int(np.prod(ir_dims))).reshape(ir_dims)
    return idx.transpose([h - 1 for h in have[1:]]).reshape(-1)
