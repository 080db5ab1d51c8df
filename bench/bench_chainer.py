#!/usr/bin/env python3
"""Benchmark: Chainer's VGG16Layers (138M parameters, random weights that carry signal;
tests/chainer_nets.py:vgg16) converted to ONNX, with peak memory of both processes.

    NNCONVERT_CHAINER_PYTHON=/path/to/chainer-env/bin/python python bench/bench_chainer.py

The walk runs in Chainer's own environment (a child process that builds the model,
traces one 224x224 image and writes the IR); nnconvert's process reads that IR, runs
the passes and writes the ONNX file. Reported: wall time per stage, nnconvert's peak
RSS growth (VmHWM, read in the converting process itself) and the Chainer process's
peak RSS (getrusage of the converting process's children). Target (issue 17's anchor):
each within 1.5x the weight bytes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[2])
sys.path.insert(0, sys.argv[2] + "/bench")
from common import peak_rss  # VmHWM of this process
import onnx  # noqa: F401  (imports are not conversion cost)
from convert.importers.chainer import load
from convert.exporters.onnx import save_onnx
from convert.api import prepare
base = peak_rss()
t0 = time.perf_counter()
loaded = load(sys.argv[2] + "/tests/chainer_nets.py:vgg16", input_shapes={"x": (1, 3, 224, 224)})
t1 = time.perf_counter()
after_import = peak_rss()
weights = loaded.graph.weight_bytes()
graph, _ = prepare(loaded.graph, in_place=True)
del loaded
t2 = time.perf_counter()
save_onnx(graph, sys.argv[1], check=False)
t3 = time.perf_counter()
chainer_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"walk_and_read_s": t1 - t0, "passes_s": t2 - t1, "onnx_write_s": t3 - t2, "total_s": t3 - t0,
                  "weights": weights, "rss_base": base, "rss_import": after_import, "rss_peak": peak_rss(),
                  "chainer_peak": chainer_peak}))
"""


def main() -> int:
    if not os.environ.get("NNCONVERT_CHAINER_PYTHON"):
        print("set NNCONVERT_CHAINER_PYTHON to the python of an environment with chainer==7.8.1 (.ci/run makes one)")
        return 2
    with tempfile.TemporaryDirectory(prefix="bench_chainer_") as tmp:
        env = dict(os.environ, PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES="")
        r = subprocess.run([sys.executable, "-c", CHILD, str(Path(tmp) / "vgg16.onnx"), str(REPO)],
                           capture_output=True, text=True, env=env, check=True)
        res = json.loads(r.stdout.strip().splitlines()[-1])
    mb, w = 2**20, res["weights"]
    growth = res["rss_peak"] - res["rss_base"]
    print(f"VGG16Layers: weights {w / mb:.0f} MB, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n")
    print("| stage | seconds |\n|---|---:|")
    for k in ("walk_and_read_s", "passes_s", "onnx_write_s", "total_s"):
        print(f"| {k[:-2].replace('_', ' ')} | {res[k]:.1f} |")
    print(f"\nnnconvert process: base {res['rss_base'] / mb:.0f} MB, peak {res['rss_peak'] / mb:.0f} MB, "
          f"growth {growth / mb:.0f} MB = {growth / w:.2f}x the weights "
          f"(after reading the IR: {(res['rss_import'] - res['rss_base']) / w:.2f}x)")
    print(f"Chainer process: peak {res['chainer_peak'] / mb:.0f} MB = {res['chainer_peak'] / w:.2f}x the weights")
    print("target (within 1.5x the weights): nnconvert process", "met" if growth <= 1.5 * w else "NOT met",
          "; Chainer process", "met" if res["chainer_peak"] <= 1.5 * w else "NOT met",
          "(its peak is the factory building the model: Chainer allocates a gradient buffer per parameter)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
