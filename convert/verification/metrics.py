"""Per-output comparison metrics and dtype-aware default tolerances."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# (rtol, atol) per dtype; a value passes when |a - b| <= atol + rtol * |b|.
DEFAULT_TOLERANCES = {
    "float32": (1e-4, 1e-4),
    "float64": (1e-7, 1e-8),
    "float16": (1e-2, 1e-2),
    "bfloat16": (5e-2, 5e-2),
}
# TF32 matmuls and cuDNN algorithm choice on GPUs differ from the CPU by ~1e-3 relative.
GPU_TOLERANCES = {"float32": (1e-3, 1e-3)}


def default_tolerance(dtype: str, device: str = "cpu") -> tuple[float, float]:
    """(rtol, atol) for an output of ``dtype`` computed on ``device``; integers compare exactly."""
    if dtype.startswith("int") or dtype.startswith("uint") or dtype == "bool":
        return (0.0, 0.0)
    if device == "cuda" and dtype in GPU_TOLERANCES:
        return GPU_TOLERANCES[dtype]
    return DEFAULT_TOLERANCES.get(dtype, DEFAULT_TOLERANCES["float32"])


@dataclass
class OutputMetrics:
    name: str
    shape: list[int]
    dtype: str
    rtol: float
    atol: float
    max_abs: float
    mean_abs: float
    max_rel: float
    cosine: float
    frac_outside: float
    min_atol: float  # smallest atol that passes at this rtol
    min_rtol: float  # smallest rtol that passes at this atol
    top1: float | None = None
    top5: float | None = None
    nonfinite_mismatch: int = 0
    ok: bool = False
    note: str = ""
    tolerance_from: str = ""  # "default float32 cpu" or "user"

    def to_json(self) -> dict:
        return asdict(self)


def compare(name: str, actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> OutputMetrics:
    """Every metric of ``actual`` (target) against ``expected`` (source).

    An element passes when ``|a - b| <= atol + rtol * |b|``; NaN and Inf must appear at
    the same positions with the same values on both sides; a shape mismatch fails."""
    a = np.asarray(actual)
    b = np.asarray(expected)
    if a.shape != b.shape:
        return OutputMetrics(name, list(b.shape), str(b.dtype), rtol, atol, *([float("inf")] * 3), 0.0, 1.0,
                             float("inf"), float("inf"), ok=False,
                             note=f"shape {list(a.shape)} != expected {list(b.shape)}")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    finite = np.isfinite(a64) & np.isfinite(b64)
    # NaN/Inf must agree exactly (same positions, same values).
    nonfinite_mismatch = int(np.sum(~finite & ~((a64 == b64) | (np.isnan(a64) & np.isnan(b64)))))
    a64, b64 = np.where(finite, a64, 0.0), np.where(finite, b64, 0.0)
    diff = np.abs(a64 - b64)
    mag = np.abs(b64)
    if diff.size == 0:
        return OutputMetrics(name, list(b.shape), str(b.dtype), rtol, atol, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, ok=True)
    # Relative error near zero: divide by at least a small fraction of the output's scale.
    floor = max(1e-12, 1e-6 * float(mag.max()))
    rel = diff / np.maximum(mag, floor)
    outside = diff > atol + rtol * mag
    na, nb = np.linalg.norm(a64), np.linalg.norm(b64)
    cosine = float(np.clip(np.dot(a64.ravel(), b64.ravel()) / (na * nb), -1.0, 1.0)) if na > 0 and nb > 0 \
        else float(na == nb)
    min_atol = float(np.max(diff - rtol * mag).clip(min=0.0))
    nz = mag > 0
    min_rtol = float(np.max(((diff - atol).clip(min=0.0)[nz]) / mag[nz])) if nz.any() else 0.0
    if np.any((diff > atol) & ~nz):
        min_rtol = float("inf")
    m = OutputMetrics(
        name, list(b.shape), str(b.dtype), rtol, atol, float(diff.max()), float(diff.mean()), float(rel.max()),
        cosine, float(outside.mean()), min_atol, min_rtol, nonfinite_mismatch=nonfinite_mismatch,
    )
    if b.ndim == 2 and b.shape[1] >= 2 and np.issubdtype(b.dtype, np.floating):
        m.top1 = float(np.mean(np.argmax(a64, 1) == np.argmax(b64, 1)))
        if b.shape[1] >= 5:
            ta = np.argsort(-a64, 1)[:, :5]
            tb = np.argsort(-b64, 1)[:, :5]
            m.top5 = float(np.mean([set(x) == set(y) for x, y in zip(ta, tb)]))
    m.ok = not outside.any() and nonfinite_mismatch == 0
    return m
