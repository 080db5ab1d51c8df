#!/usr/bin/env python3
"""ONNX -> PyTorch: nnconvert against onnx2torch on a ResNet-50 and a bidirectional LSTM.

    python bench/bench_onnx2torch.py --python /path/to/venv/bin/python [--runs 20] [--threads 1]

The ONNX files are exported once per model by torch.onnx in TorchScript mode (with and
without constant folding) and in dynamo mode (opset 17, dynamic batch) from bench/models.py.
onnx2torch lives in the benchmark's own environment, not the package's: ``--python``
names an interpreter where ``pip install onnx2torch`` was run; nnconvert runs under the
same interpreter (this checkout on PYTHONPATH) so both use the
same torch. Each conversion runs in a fresh process: "convert s" is the conversion call
(ONNX file -> torch module: nnconvert's from_onnx + to_torch, onnx2torch's convert),
"peak RSS" the process's VmHWM (torch and onnx imports included), latency the median of
--runs forward passes at batch 1 under torch.no_grad, max error against onnxruntime on
the same ONNX file and input.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
OPSET = 17

CHILD = r"""
import json, statistics, sys, time
import numpy as np
import torch
tool, path, x_path, ref_path, runs, threads = sys.argv[1:7]
torch.set_num_threads(int(threads))
if tool == "nnconvert":
    import convert
    t = time.perf_counter()
    module = convert.to_torch(convert.from_onnx(path))
else:
    import onnx2torch
    t = time.perf_counter()
    module = onnx2torch.convert(path)
conv = time.perf_counter() - t
module.eval()
x = torch.from_numpy(np.load(x_path))
with torch.no_grad():
    out = module(x)
    out = out[0] if isinstance(out, (tuple, list)) else out
    err = float(np.abs(out.numpy() - np.load(ref_path)).max())
    times = []
    for _ in range(int(runs)):
        t = time.perf_counter()
        module(x)
        times.append(time.perf_counter() - t)
with open("/proc/self/status") as f:
    peak = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM:"))
print(json.dumps({"convert_s": conv, "peak_rss": peak, "latency_ms": 1000 * statistics.median(times),
                  "max_err": err, "kind": type(module).__name__, "torch": torch.__version__}))
"""


def export(name: str, folder: Path, mode: str) -> tuple[Path, Path, Path]:
    import warnings

    import numpy as np
    import onnxruntime as ort
    import torch

    from models import SHAPES, torch_model

    model = torch_model(name)
    x = torch.randn(*SHAPES[name], generator=torch.Generator().manual_seed(1))
    path = folder / f"{name}_{mode}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if mode == "dynamo":
            torch.onnx.export(model, (x,), str(path), dynamo=True, opset_version=OPSET, input_names=["x"],
                              output_names=["y"], dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
                              external_data=False)
        else:
            torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=OPSET, input_names=["x"],
                              output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
                              do_constant_folding=mode != "torchscript-nofold")
    xs = folder / f"{name}_x.npy"
    np.save(xs, x.numpy())
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
    refs = folder / f"{name}_ref.npy"
    np.save(refs, ref)
    return path, xs, refs


def run_child(python: str, tool: str, args: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES="")
    r = subprocess.run([python, "-c", CHILD, tool, *args], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1][:200] if r.stderr.strip() else f"rc {r.returncode}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", required=True, help="interpreter with onnx2torch installed")
    ap.add_argument("--models", default="resnet50,bilstm")
    # torchscript-nofold: do_constant_folding=False, which keeps every weight an initializer
    # (onnx2torch fails on folded TorchScript exports: its issue #156)
    ap.add_argument("--exporters", default="torchscript,torchscript-nofold,dynamo")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    rows = ["| model (torch.onnx mode) | tool | convert s | peak RSS MiB | latency ms | max err vs onnxruntime | "
            "result |", "|---|---|---:|---:|---:|---:|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.models.split(","):
            for mode in a.exporters.split(","):
                files = [str(p) for p in export(name, Path(tmp), mode)]
                for tool in ("nnconvert", "onnx2torch"):
                    r = run_child(a.python, tool, files + [str(a.runs), str(a.threads)])
                    label = f"| {name} ({mode}) | {tool} |"
                    if "error" in r:
                        rows.append(f"{label} | | | | failed: {r['error']} |")
                    else:
                        rows.append(f"{label} {r['convert_s']:.2f} | {r['peak_rss'] / 2**20:.0f} | "
                                    f"{r['latency_ms']:.1f} | {r['max_err']:.1e} | {r['kind']} (torch {r['torch']}) |")
                    print(rows[-1], flush=True)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
