#!/usr/bin/env python3
"""ONNX -> PyTorch on a model past 2 GiB (external data): peak memory against the weight bytes.

    python bench/bench_onnx_large.py [--gib 2.25] [--width 8192] [--folder /tmp] [--import-only]
                                     [--targets module,pt2,torch-source]

An MLP of MatMul + Add + Relu layers with seeded random float32 weights is written straight
to ``model.onnx`` + ``model.onnx.data`` (one weight in memory at a time), then converted in
a fresh process per target: ``from_onnx`` (import), then ``to_torch`` (``module``: the default,
which shares the arrays the graph owns; ``module-shared``: ``share_weights=True``;
``module-copy``: ``share_weights=False``), the ``.pt2`` written, or the torch source (``.py`` +
``.safetensors``) written. Each step reports its wall time and the process's peak RSS
(VmHWM, imports included) and what the peak grew over the RSS after the imports (torch,
onnx, nnconvert: the bound the large-model tests check); the output is checked against
numpy on the same weights, recomputed from the data file. The files are deleted afterwards.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
import numpy as np
import torch
sys.path.insert(0, sys.argv[3])
from common import peak_rss
import convert
with open("/proc/self/status") as f:
    base = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))
path, x_path = sys.argv[1:3]
t = time.perf_counter()
graph = convert.from_onnx(path)
imported = (time.perf_counter() - t, peak_rss())
if sys.argv[4] == "1":
    print(json.dumps({"import_s": imported[0], "import_peak": imported[1], "base": base}))
    sys.exit(0)
target = sys.argv[5]
t = time.perf_counter()
if target.startswith("module"):
    module = convert.to_torch(graph, share_weights={"module-shared": True, "module-copy": False}.get(target))
    del graph
else:
    from convert.exporters.torch import save
    out = path + (".pt2" if target == "pt2" else ".py")
    save(graph, out, fmt=target)
    del graph
to_torch = (time.perf_counter() - t, peak_rss())
if target == "pt2":
    module = torch.export.load(out).module()
elif target == "torch-source":
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_generated", out)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    module = mod.load_model()
with torch.no_grad():
    y = module(torch.from_numpy(np.load(x_path))).numpy()
np.save(x_path + ".out.npy", y)
print(json.dumps({"base": base, "import_s": imported[0], "import_peak": imported[1], "torch_s": to_torch[0],
                  "torch_peak": to_torch[1], "final_peak": peak_rss()}))
"""


def write_model(folder: Path, layers: int, width: int, seed: int = 0) -> int:
    """model.onnx + model.onnx.data; returns the weight bytes."""
    from onnx import TensorProto, helper, save_model

    rng = np.random.default_rng(seed)
    inits, nodes, offset = [], [], 0
    x = "x"
    with open(folder / "model.onnx.data", "wb") as data:
        for k in range(layers):
            for name, shape in ((f"w{k}", (width, width)), (f"b{k}", (width,))):
                arr = (rng.standard_normal(shape, dtype=np.float32) * np.float32(width ** -0.5))
                data.write(arr.tobytes())
                t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=shape,
                                data_location=TensorProto.EXTERNAL)
                for key, value in (("location", "model.onnx.data"), ("offset", str(offset)),
                                   ("length", str(arr.nbytes))):
                    t.external_data.add(key=key, value=value)
                inits.append(t)
                offset += arr.nbytes
                del arr
            mm, y = f"mm{k}", f"y{k}"
            nodes += [helper.make_node("MatMul", [x, f"w{k}"], [mm]), helper.make_node("Add", [mm, f"b{k}"], [y])]
            if k < layers - 1:
                nodes.append(helper.make_node("Relu", [y], [f"r{k}"]))
                y = f"r{k}"
            x = y
    g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
                          [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, width])], initializer=inits)
    save_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(folder / "model.onnx"))
    return offset


def reference(folder: Path, layers: int, width: int, x: np.ndarray) -> np.ndarray:
    """The MLP in numpy, weights read back from the data file one at a time."""
    data = np.memmap(folder / "model.onnx.data", dtype=np.float32, mode="r")
    pos, y = 0, x.astype(np.float64)
    for k in range(layers):
        w = np.asarray(data[pos:pos + width * width]).reshape(width, width)
        pos += width * width
        b = np.asarray(data[pos:pos + width])
        pos += width
        y = y @ w + b
        if k < layers - 1:
            y = np.maximum(y, 0)
    return y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gib", type=float, default=2.25, help="weight bytes to write, in GiB")
    ap.add_argument("--width", type=int, default=8192)
    ap.add_argument("--folder", default=tempfile.gettempdir())
    ap.add_argument("--import-only", action="store_true", help="stop after from_onnx (less memory)")
    ap.add_argument("--targets", default="module", help="comma-separated: module, module-shared (to_torch(share_weights=True)), "
                                                   "module-copy (share_weights=False), pt2, torch-source")
    args = ap.parse_args()
    layer_bytes = 4 * (args.width * args.width + args.width)
    layers = max(1, round(args.gib * 2**30 / layer_bytes))
    folder = Path(tempfile.mkdtemp(prefix="nnconvert-large-onnx-", dir=args.folder))
    try:
        nbytes = write_model(folder, layers, args.width)
        x = np.random.default_rng(1).standard_normal((1, args.width)).astype(np.float32)
        np.save(folder / "x.npy", x)
        env = {**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""}
        gib = 2**30
        print(f"{layers} x ({args.width}x{args.width}) float32 layers, {nbytes / gib:.2f} GiB of weights in "
              f"model.onnx.data")
        want = None
        for target in ["import"] if args.import_only else args.targets.split(","):
            out = subprocess.run([sys.executable, "-c", CHILD, str(folder / "model.onnx"), str(folder / "x.npy"),
                                  str(REPO / "bench"), "1" if args.import_only else "0", target],
                                 capture_output=True, text=True, env=env, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"[{target}] from_onnx: {r['import_s']:.1f} s, peak RSS {r['import_peak'] / gib:.2f} GiB "
                  f"({r['import_peak'] / nbytes:.2f}x the weights; {(r['import_peak'] - r['base']) / nbytes:.2f}x "
                  f"over the {r['base'] / gib:.2f} GiB after imports)")
            if args.import_only:
                return
            for leftover in folder.glob("model.onnx.*"):
                if leftover.suffix != ".data":
                    leftover.unlink()  # the written .pt2 / .py / .safetensors
            want = reference(folder, layers, args.width, x) if want is None else want
            err = float(np.abs(np.load(folder / "x.npy.out.npy") - want).max())
            step = f"write {target}" if target in ("pt2", "torch-source") else "to_torch"
            print(f"[{target}] + {step}: {r['torch_s']:.1f} s, peak RSS {r['torch_peak'] / gib:.2f} GiB "
                  f"({r['torch_peak'] / nbytes:.2f}x the weights; {(r['torch_peak'] - r['base']) / nbytes:.2f}x over "
                  f"the imports); max error against numpy (float64): {err:.2e}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
