"""Chainer importer: a live ``chainer.Link`` from ``file.py:factory`` (+ ``--weights
model.npz``), walked from its output through the ``creator`` function nodes.

Chainer 7.8 needs numpy<2 and runs only in its own environment, named by
NNCONVERT_CHAINER_PYTHON: the walk runs there (``chainer_script.py``) and writes the IR
as an .nnir folder, which this process reads. Verification runs the model there too.
Shapes are static (define-by-run: the graph is the trace at the given input shapes).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ...errors import CannotVerifyError, ModelLoadError, Unsupported, UnsupportedError, UsageError
from ...loaded import LoadedModel

ENV = "NNCONVERT_CHAINER_PYTHON"
SCRIPT = Path(__file__).with_name("chainer_script.py")
_TARGET = re.compile(r"^(?P<file>.+\.py):(?P<attr>[A-Za-z_][A-Za-z0-9_.]*)$")
TIMEOUT_S = 900


def chainer_python() -> str | None:
    exe = os.environ.get(ENV)
    return exe if exe and Path(exe).exists() else None


def _call(mode: str, file: str, attr: str, job: dict, tmp: Path) -> str:
    exe = chainer_python()
    if exe is None:
        raise UsageError(f"Chainer is not available: set {ENV} to the python of an environment with "
                         f"chainer==7.8.1 (and numpy<2) installed")
    (tmp / "job.json").write_text(json.dumps(job))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    try:
        proc = subprocess.run([exe, str(SCRIPT), mode, file, attr, str(tmp / "job.json")], capture_output=True,
                              text=True, timeout=TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise ModelLoadError(file, f"Chainer did not finish within {TIMEOUT_S} s") from None
    err = Path(job["out"] + ".error")
    if err.exists():
        problem = json.loads(err.read_text())
        if "unsupported" in problem:
            raise UnsupportedError([Unsupported(**i) for i in problem["unsupported"]], f"{file}:{attr}")
        raise ModelLoadError(file, problem.get("message", "conversion failed"))
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ModelLoadError(file, f"Chainer failed: {tail}")
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""


def run_chainer(file: str, attr: str, weights: str | None, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """The model's output in Chainer itself (a subprocess in Chainer's environment)."""
    with tempfile.TemporaryDirectory(prefix="nnconvert-chainer-") as tmp:
        job = {"weights": weights and str(Path(weights).resolve()), "inputs": {}, "out": str(Path(tmp) / "y.npy")}
        for k, (name, arr) in enumerate(inputs.items()):
            job["inputs"][name] = str(Path(tmp) / f"x{k}.npy")
            np.save(job["inputs"][name], np.ascontiguousarray(arr, np.float32))
        _call("run", file, attr, job, Path(tmp))
        return np.load(job["out"], allow_pickle=False)


def load(path: str, *, weights: str | None = None, input_shapes: dict | None = None, **_ignored) -> LoadedModel:
    m = _TARGET.match(str(path))
    if not m:
        raise UsageError(f"{path}: a Chainer model is given as file.py:factory")
    file, attr = str(Path(m["file"]).resolve()), m["attr"]
    if not input_shapes or any(not isinstance(d, int) or d <= 0 for s in input_shapes.values() for d in s):
        raise UsageError("Chainer graphs are traced at fixed shapes: pass --input-shape NAME:D0,D1,... with sizes")
    from ...ir.serialize import load as load_graph

    with tempfile.TemporaryDirectory(prefix="nnconvert-chainer-") as tmp:
        out = str(Path(tmp) / "model.nnir")
        version = _call("walk", file, attr, {"weights": weights and str(Path(weights).resolve()),
                                             "inputs": {k: list(v) for k, v in input_shapes.items()}, "out": out},
                        Path(tmp))
        graph = load_graph(out, mmap=False)
    names = [v.name for v in graph.inputs]
    given = list(input_shapes)

    def run(inputs):
        try:
            y = run_chainer(file, attr, weights, {g: inputs[n] for g, n in zip(given, names)})
        except (UsageError, ModelLoadError) as e:
            raise CannotVerifyError(str(e)) from e
        return {graph.outputs[0].name: y}

    return LoadedModel(graph=graph, format="chainer", path=str(path), run=run, framework_version=f"chainer {version}")


__all__ = ["load", "run_chainer"]
