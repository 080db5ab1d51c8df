"""Which ops the torch targets compute in half precision (``--precision``, convert.passes.precision)."""
from __future__ import annotations


def computes(op: str, dtype: str) -> bool:
    """Every op: torch runs float16 and bfloat16 on the CPU as on GPUs (convolution,
    matmul, pooling, attention, activations)."""
    return True
