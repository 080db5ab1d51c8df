"""Sliding-window geometry of the IR's Conv and pooling ops, for the writers and readers
of formats that spell padding differently (TensorFlow's padding='same', ceil mode)."""
from __future__ import annotations

import math
from typing import Callable

from ..errors import UnsupportedAttributeError


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


def conv_window(get: Callable[[str], object], n: int) -> dict[str, list[int]]:
    """A convolution's ``strides``, ``dilations`` and ``pads`` for ``n`` spatial axes, read
    through ``get`` (None when absent: 1, 1 and 0), each checked (one value per axis, two
    for pads; strides and dilations at least 1, pads at least 0); a bad one is refused by
    name: these values come from a file."""
    out = {}
    for key, length, least in (("strides", n, 1), ("dilations", n, 1), ("pads", 2 * n, 0)):
        values = get(key)
        out[key] = [int(v) for v in values] if values else [least] * length
        if len(out[key]) != length or min(out[key], default=least) < least:
            raise UnsupportedAttributeError(key, out[key], f"{length} values, each at least {least}")
    return out


def conv_out_size(n: int, k: int, s: int, d: int, b: int, e: int) -> int:
    """Convolved size of one axis of length ``n`` padded by (``b``, ``e``)."""
    return (n + b + e - (k - 1) * d - 1) // s + 1
