"""Run the source MXNet model for verification, in MXNet's own interpreter.

MXNet 1.9 needs numpy<1.24, so it cannot live beside nnconvert's dependencies; the
interpreter of an environment that has it is named by NNCONVERT_MXNET_PYTHON and the
model runs there in a subprocess (``mxnet_script.py``), exchanging arrays as .npy/.npz.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ...errors import CannotVerifyError

ENV = "NNCONVERT_MXNET_PYTHON"
SCRIPT = Path(__file__).with_name("mxnet_script.py")
TIMEOUT_S = 600


def mxnet_python() -> str | None:
    exe = os.environ.get(ENV)
    return exe if exe and Path(exe).exists() else None


def run_mxnet(symbol: str, params: str, inputs: dict[str, np.ndarray]) -> tuple[list[np.ndarray], str]:
    """Outputs of the model (in head order) for ``inputs`` keyed by MXNet input name,
    and the MXNet version."""
    exe = mxnet_python()
    if exe is None:
        raise CannotVerifyError(f"MXNet is not available: set {ENV} to the python of an environment with "
                                f"mxnet==1.9.1 installed (it needs numpy<1.24), or pass --reference FILE.npz")
    with tempfile.TemporaryDirectory(prefix="nnconvert-mxnet-") as tmp:
        job = {"inputs": {}, "outputs": str(Path(tmp) / "out.npz")}
        for k, (name, arr) in enumerate(inputs.items()):
            path = str(Path(tmp) / f"in{k}.npy")
            np.save(path, np.ascontiguousarray(arr, np.float32))
            job["inputs"][name] = path
        (Path(tmp) / "job.json").write_text(json.dumps(job))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.setdefault("OMP_NUM_THREADS", "1")
        try:
            proc = subprocess.run([exe, str(SCRIPT), str(symbol), str(params), str(Path(tmp) / "job.json")],
                                  capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
        except subprocess.TimeoutExpired:
            raise CannotVerifyError(f"MXNet did not finish within {TIMEOUT_S} s") from None
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise CannotVerifyError(f"MXNet failed to run the model: {tail}")
        with np.load(job["outputs"], allow_pickle=False) as z:
            outs = [z[f"out{i}"] for i in range(len(z.files))]
    return outs, proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""


def make_runner(symbol: str, params: str, graph):
    """(run, version) for LoadedModel: run takes and returns arrays keyed by IR names."""
    in_names = [v.name for v in graph.inputs]
    out_names = [v.name for v in graph.outputs]
    source_names = json.loads(graph.metadata.get("mxnet_inputs", "null")) or in_names

    def run(inputs):
        outs, _version = run_mxnet(symbol, params, {s: inputs[n] for s, n in zip(source_names, in_names)})
        return dict(zip(out_names, outs))

    return run, (f"mxnet (run with {mxnet_python()})" if mxnet_python() else "")
