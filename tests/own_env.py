"""Frameworks that live in their own environment (MXNet, Chainer): finding the interpreter,
building models there, and running converted graphs in each target."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ENV = "NNCONVERT_MXNET_PYTHON"
# the operator files tests/mxnet_build.py writes ("ops"), one family each
OPS_CASES = ["batchnorm_fix_gamma_axis", "conv_group_dilate", "crop_upsample", "deconv_adj", "embedding",
             "fc_flatten_softmaxoutput", "fc_softmax_family", "l2norm_modes", "leaky_family", "pool_avg_exclude_pad",
             "pool_full_avg", "pool_full_max", "pool_sum_global", "reshape_codes_transpose", "rnn_lstm_gru",
             "slice_concat_elementwise", "unary_math", "upsample_bilinear"]


def mxnet_python() -> str:
    """The interpreter of MXNet's environment, or skip with the reason."""
    exe = os.environ.get(ENV)
    if not exe or not Path(exe).exists():
        pytest.skip(f"MXNet environment absent: set {ENV} to a python with mxnet==1.9.1 and numpy<1.24 "
                    f"(.ci/run creates one)")
    return exe


def build(out: Path, kind: str, *names: str) -> Path:
    """Run tests/mxnet_build.py in MXNet's interpreter: models and their recorded outputs."""
    exe = mxnet_python()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run([exe, str(HERE / "mxnet_build.py"), str(out), kind, *names],
                          capture_output=True, text=True, env=env, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def tolerance(ref) -> float:
    import numpy as np

    return 1e-4 * max(1.0, float(np.abs(ref).max()))


def run_target(graph, target: str, x):
    """The converted model's first output for ``x`` in ``target``'s own runtime."""
    import numpy as np

    from convert.api import prepare

    g, _ = prepare(graph)
    if target == "onnx":
        from helpers import run_onnx

        return run_onnx(g, {g.inputs[0].name: x}, optimize=False)[g.outputs[0].name]
    if target == "torch":
        import torch

        from convert.exporters.torch import to_torch

        with torch.no_grad():
            out = to_torch(g)(torch.from_numpy(x))
        return (out[0] if isinstance(out, (tuple, list)) else out).numpy()
    import warnings

    from convert.exporters.keras import to_keras

    with warnings.catch_warnings():  # a bare array for a one-input model is fine
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
        out = to_keras(g)(x, training=False)
    return np.asarray(out[0] if isinstance(out, (tuple, list)) else out)
