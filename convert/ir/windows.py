"""Sliding-window geometry of the IR's Conv and pooling ops, for the writers and readers
of formats that spell padding differently (TensorFlow's padding='same', ceil mode)."""
from __future__ import annotations

import math


def same_pads(size: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """The (begin, end) pads of TensorFlow's padding='same' (ONNX SAME_UPPER) for one axis."""
    k_eff = (k - 1) * d + 1
    total = max((math.ceil(size / s) - 1) * s + k_eff - size, 0)
    return total // 2, total - total // 2


def pool_out_size(n: int, k: int, s: int, b: int, e: int, ceil: bool) -> int:
    """Pooled size of one axis of length ``n`` padded by (``b``, ``e``), with ONNX's
    ceil_mode rule: a window starting in the end padding is dropped."""
    span = n + b + e - k
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + b:
        out -= 1
    return out
