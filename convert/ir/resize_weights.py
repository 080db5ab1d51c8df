"""ONNX Resize (opset 19) along one axis as an explicit (out, in) weight matrix.

Resize is separable: every output is a weighted sum of input samples along each axis in
turn, so any coordinate mode, rounding rule, cubic coefficient, exclude_outside or
antialias setting a target's own resize cannot express becomes one matrix per axis
(or, for nearest, one index per output), computed here in float64 from the attributes."""
from __future__ import annotations

import math

import numpy as np


def source_coordinate(x: int, ctm: str, scale: float, in_len: int, out_len: int,
                      roi: tuple[float, float]) -> float:
    """The input coordinate output index ``x`` samples (ONNX coordinate_transformation_mode)."""
    width = scale * in_len  # the real-valued output length the modes are defined with
    if ctm == "align_corners":
        return 0.0 if width == 1 else x * (in_len - 1) / (width - 1)
    if ctm == "asymmetric":
        return x / scale
    if ctm == "tf_crop_and_resize":
        start, end = roi
        span = (end - start) * (in_len - 1)
        return start * (in_len - 1) + (span / 2 if width == 1 else x * span / (width - 1))
    if ctm == "pytorch_half_pixel":
        return -0.5 if width == 1 else (x + 0.5) / scale - 0.5
    if ctm == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if ctm == "half_pixel_symmetric":
        offset = in_len / 2 * (1 - out_len / width)
        return offset + (x + 0.5) / scale - 0.5
    if ctm == "tf_half_pixel_for_nn":
        return (x + 0.5) / scale
    raise ValueError(f"coordinate_transformation_mode {ctm!r}")


def _nearest(ratio: float, rule: str) -> list[float]:
    if ratio == 1:
        return [0.0, 1.0]
    pick_high = {"round_prefer_floor": ratio > 0.5, "round_prefer_ceil": ratio >= 0.5,
                 "floor": False, "ceil": True}[rule]
    return [0.0, 1.0] if pick_high else [1.0, 0.0]


def _cubic_kernel(d: float, a: float) -> float:
    d = abs(d)
    if d <= 1:
        return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1
    if d < 2:
        return a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a
    return 0.0


def _filter(ratio: float, mode: str, a: float, antialias: bool, scale: float) -> tuple[int, list[float]]:
    """(offset of the first tap from floor-ish position k, tap weights) for x = k + ratio."""
    s = min(scale, 1.0) if antialias else 1.0
    support = 1.0 if mode == "linear" else 2.0
    first = math.floor(-support / s) + 1  # taps k+first .. k+1-first
    taps = [(first + j - ratio) * s for j in range(2 - 2 * first)]
    w = [max(0.0, 1 - abs(t)) for t in taps] if mode == "linear" else [_cubic_kernel(t, a) for t in taps]
    if antialias:
        total = sum(w)
        w = [v / total for v in w]
    return first, w


def axis_weights(in_len: int, out_len: int, scale: float, *, mode: str, ctm: str, nearest_mode: str,
                 cubic_a: float = -0.75, exclude_outside: bool = False, antialias: bool = False,
                 roi: tuple[float, float] = (0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """(weights of shape (out_len, in_len), valid rows): a row is invalid where
    tf_crop_and_resize samples outside the input (the output is extrapolation_value)."""
    w = np.zeros((out_len, in_len), np.float64)
    valid = np.ones(out_len, bool)
    for x in range(out_len):
        src = source_coordinate(x, ctm, scale, in_len, out_len, roi)
        if ctm == "tf_crop_and_resize" and not 0 <= src <= in_len - 1:
            valid[x] = False
            continue
        k = math.floor(src)
        ratio = src - k
        if ratio == 0:  # taps lean left: an exact sample is the right tap of (k-1, k)
            k, ratio = k - 1, 1.0
        if mode == "nearest":
            first, taps = 0, _nearest(ratio, nearest_mode)
        else:
            first, taps = _filter(ratio, mode, cubic_a, antialias and scale < 1, scale)
        idx = [k + first + j for j in range(len(taps))]
        if exclude_outside:
            taps = [t if 0 <= i < in_len else 0.0 for t, i in zip(taps, idx)]
            total = sum(taps)
            taps = [t / total for t in taps]
        for t, i in zip(taps, idx):
            w[x, min(max(i, 0), in_len - 1)] += t  # edge samples repeat beyond the border
    return w, valid
