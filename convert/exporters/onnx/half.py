"""Which ops an ONNX file computes in half precision (``--precision``, convert.passes.precision)."""
from __future__ import annotations


def computes(op: str, dtype: str) -> bool:
    """float16: every op (onnxruntime's CPU provider runs an op without a float16 kernel in
    float32 between Casts it inserts itself). bfloat16: none: that provider has bfloat16
    kernels only for data movement (Cast, Reshape, Transpose...; not Add, MatMul, Conv,
    Relu, Softmax in onnxruntime 1.32), and a file it cannot load must not be
    written, so a bfloat16 file stores its weights in bfloat16 and computes in float32."""
    return dtype == "float16"
