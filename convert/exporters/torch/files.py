"""CLI entry points of the torch-source target: writer and runner."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ...errors import CannotVerifyError
from .export import save


def save_source(graph, path, progress=None, **_ignored) -> list[Path]:
    """``model.py`` + ``model.safetensors``: plain PyTorch to read, edit and fine-tune."""
    return save(graph, path, fmt="torch-source", progress=progress)


def source_runner(path: str, *, device: str = "cpu", graph=None, **_ignored):
    """Run the generated module in torch: import the written file (our own output) and
    call ``load_model()``; inputs and outputs follow the source graph's order."""
    import torch

    if device != "cpu":
        raise CannotVerifyError(f"--device {device} applies to ONNX targets; torch-source runs on the CPU")
    py = Path(path) if Path(path).suffix == ".py" else Path(path).with_suffix(".py")
    spec = importlib.util.spec_from_file_location(f"nnconvert_check_{py.stem}", py)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    model = module.load_model()
    out_names = [v.name for v in graph.outputs] if graph is not None else None

    def run(inputs: dict) -> dict:
        with torch.no_grad():
            out = model(*[torch.from_numpy(np.ascontiguousarray(v)) for v in inputs.values()])
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        names = out_names or [f"output_{i}" for i in range(len(outs))]
        return {n: o.numpy() for n, o in zip(names, outs)}

    run.providers = [f"torch {torch.__version__} (CPU)"]  # type: ignore[attr-defined]
    return run
