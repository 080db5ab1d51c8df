"""Half precision in ONNX files (``--precision``, convert.passes.precision): which ops
compute in it, and the check that onnxruntime loads the result."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ...errors import NNConvertError
from ...flags import flag

# The probe runs in its own process: onnxruntime's graph optimiser can crash (not raise) on
# a float16 graph, e.g. a MatMul after Transpose/Reshape/Transpose behind an LSTM (1.32).
_LOAD = "import sys, onnxruntime as o; o.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])"


def computes(op: str, dtype: str) -> bool:
    """float16: every op (onnxruntime's CPU provider runs an op without a float16 kernel in
    float32 between Casts it inserts itself). bfloat16: none: that provider has bfloat16
    kernels only for data movement (Cast, Reshape, Transpose...; not Add, MatMul, Conv,
    Relu, Softmax in onnxruntime 1.32), and a file it cannot load must not be written, so a
    bfloat16 file stores its weights in bfloat16 and computes in float32."""
    return dtype == "float16"


def check_loads(path: str | Path, precision: str) -> None:
    """Raise (so nothing is written) when onnxruntime's CPU provider cannot load ``path``."""
    try:
        r = subprocess.run([sys.executable, "-c", _LOAD, str(path)], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        why = "loading it did not finish in 600 s"
    else:
        if r.returncode == 0:
            return
        lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
        why = (f"it crashed loading it (signal {-r.returncode})" if r.returncode < 0
               else lines[-1][:300] if lines else f"exit status {r.returncode}")
    raise NNConvertError(f"onnxruntime cannot load the {precision} ONNX model ({why}); nothing written: convert "
                         f"with {flag('precision', 'bf16')} (bf16 weights, float32 compute) or to a torch target")
