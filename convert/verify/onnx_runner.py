"""Run ONNX models in onnxruntime, on the CPU or, when asked, strictly on CUDA."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import CannotVerifyError

Run = Callable[[dict], dict]

PROVIDERS = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}


def make_session(model, device: str = "cpu", extra_outputs: bool = False):
    import onnxruntime as ort

    if device not in PROVIDERS:
        raise CannotVerifyError(f"unknown device {device!r} (cpu or cuda)")
    if device == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        raise CannotVerifyError("--device cuda: onnxruntime's CUDAExecutionProvider is not available "
                                "(install onnxruntime-gpu: pip install 'nnconvert[gpu]')")
    so = ort.SessionOptions()
    so.log_severity_level = 3
    src = str(model) if isinstance(model, (str, Path)) else model
    try:
        sess = ort.InferenceSession(src, so, providers=PROVIDERS[device])
    except Exception as e:  # onnxruntime raises several unrelated classes
        raise CannotVerifyError(f"onnxruntime cannot load the model: {str(e).splitlines()[0]}") from e
    if device == "cuda" and sess.get_providers()[0] != "CUDAExecutionProvider":
        raise CannotVerifyError("--device cuda: the session fell back to the CPU; CUDA is not active "
                                f"(providers in use: {sess.get_providers()})")
    return sess


def session_runner(model, device: str = "cpu") -> Run:
    sess = make_session(model, device)

    def run(inputs: dict) -> dict:
        names = [o.name for o in sess.get_outputs()]
        feed = {i.name: np.asarray(inputs[i.name]) for i in sess.get_inputs()}
        return dict(zip(names, sess.run(names, feed)))

    run.providers = sess.get_providers()  # type: ignore[attr-defined]
    return run


def runner(path: str, *, device: str = "cpu", **_ignored) -> Run:
    return session_runner(path, device)
