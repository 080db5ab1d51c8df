"""Benchmark: convert a VGG-style MXNet model (about 240 MB of random weights) to ONNX.

    python bench/bench_mxnet.py [--keep DIR]

Writes ``vgg-symbol.json`` and ``vgg-0000.params`` (MXNet's NDArray list format,
written here directly, so no MXNet is needed) into a temp dir, then converts in a fresh
subprocess: wall time per stage and peak RSS (VmHWM, read in the child). Target: peak
RSS growth during conversion within 1.5x the weight bytes.
"""
from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def vgg_symbol() -> tuple[dict, dict[str, tuple[int, ...]]]:
    """A VGG-16-shaped symbol (conv + BatchNorm + ReLU, max pools, three FC layers)."""
    nodes: list[dict] = [{"op": "null", "name": "data", "inputs": []}]
    shapes: dict[str, tuple[int, ...]] = {}

    def var(name, shape):
        nodes.append({"op": "null", "name": name, "inputs": []})
        shapes[name] = shape
        return len(nodes) - 1

    def op(kind, name, attrs, inputs):
        nodes.append({"op": kind, "name": name, "attrs": attrs, "inputs": [[i, 0, 0] for i in inputs]})
        return len(nodes) - 1

    x, cin = 0, 3
    for stage, (n, c) in enumerate([(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]):
        for k in range(n):
            name = f"conv{stage}_{k}"
            w, b = var(f"{name}_weight", (c, cin, 3, 3)), var(f"{name}_bias", (c,))
            x = op("Convolution", name, {"kernel": "(3, 3)", "pad": "(1, 1)", "num_filter": str(c)}, [x, w, b])
            bn = [var(f"{name}_bn_{p}", (c,)) for p in ("gamma", "beta", "moving_mean", "moving_var")]
            x = op("BatchNorm", f"{name}_bn", {"fix_gamma": "False", "eps": "2e-5"}, [x, *bn])
            x = op("Activation", f"{name}_relu", {"act_type": "relu"}, [x])
            cin = c
        x = op("Pooling", f"pool{stage}", {"kernel": "(2, 2)", "stride": "(2, 2)", "pool_type": "max"}, [x])
    for k, (fin, fout) in enumerate([(512 * 7 * 7, 2048), (2048, 2048), (2048, 1000)]):
        w, b = var(f"fc{k}_weight", (fout, fin)), var(f"fc{k}_bias", (fout,))
        x = op("FullyConnected", f"fc{k}", {"num_hidden": str(fout)}, [x, w, b])
        if k < 2:
            x = op("Activation", f"fc{k}_relu", {"act_type": "relu"}, [x])
    x = op("softmax", "prob", {"axis": "1"}, [x])
    return {"nodes": nodes, "arg_nodes": [i for i, n in enumerate(nodes) if n["op"] == "null"],
            "heads": [[x, 0, 0]]}, shapes


def write_params(path: Path, shapes: dict[str, tuple[int, ...]], rng) -> int:
    """MXNet's NDArray list format: magic, arrays (v2 records), names."""
    total = 0
    with open(path, "wb") as f:
        f.write(struct.pack("<QQQ", 0x112, 0, len(shapes)))
        for name, shape in shapes.items():
            arr = (rng.standard_normal(shape, dtype=np.float32) * 0.05)
            if name.endswith("moving_var"):
                arr = np.abs(arr) + 0.5
            f.write(struct.pack("<Iii", 0xF993FAC9, 0, len(shape)) + struct.pack(f"<{len(shape)}q", *shape)
                    + struct.pack("<iii", 1, 0, 0))
            f.write(arr.astype("<f4").tobytes())
            total += arr.nbytes
        f.write(struct.pack("<Q", len(shapes)))
        for name in shapes:
            prefix = "aux:" if name.endswith(("moving_mean", "moving_var")) else "arg:"
            f.write(struct.pack("<Q", len(prefix + name)) + (prefix + name).encode())
    return total


CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[4])
sys.path.insert(0, sys.argv[4] + "/bench")
from common import peak_rss  # VmHWM of this process
t0 = time.perf_counter()
import onnx, onnxruntime  # noqa: F401  (imports are not conversion cost)
from convert.importers.mxnet import from_mxnet, ops  # noqa: F401
from convert.exporters.onnx import save_onnx
from convert.api import prepare
base = peak_rss()
t1 = time.perf_counter()
graph = from_mxnet(sys.argv[1], sys.argv[2], {"data": ("batch", 3, 224, 224)})
t2 = time.perf_counter()
after_import = peak_rss()
graph, _ = prepare(graph)
t3 = time.perf_counter()
save_onnx(graph, sys.argv[3], check=False)
t4 = time.perf_counter()
print(json.dumps({"import_s": t2 - t1, "passes_s": t3 - t2, "onnx_write_s": t4 - t3, "total_s": t4 - t1,
                  "rss_base": base, "rss_import": after_import, "rss_peak": peak_rss(),
                  "weight_bytes": graph.weight_bytes()}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", help="write the files into this folder and keep them")
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_mxnet_"))
    tmp.mkdir(parents=True, exist_ok=True)
    sym, shapes = vgg_symbol()
    (tmp / "vgg-symbol.json").write_text(json.dumps(sym))
    nbytes = write_params(tmp / "vgg-0000.params", shapes, np.random.default_rng(0))
    print(f"setup: {nbytes / 1e6:.1f} MB of weights")
    rows = []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-c", CHILD, str(tmp / "vgg-symbol.json"), str(tmp / "vgg-0000.params"),
                              str(tmp / "vgg.onnx"), str(REPO)], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = min(rows, key=lambda r: r["total_s"])
    print("| stage | seconds (best of %d) |" % len(rows))
    print("| --- | --- |")
    for k in ("import_s", "passes_s", "onnx_write_s", "total_s"):
        print(f"| {k[:-2]} | {best[k]:.2f} |")
    imp = best["rss_import"] - best["rss_base"]
    growth = best["rss_peak"] - best["rss_base"]
    print(f"\nimport alone: peak RSS growth {imp / 1e6:.0f} MB = {imp / nbytes:.2f}x the weight bytes")
    print(f"weights {nbytes / 1e6:.1f} MB; growth during the whole conversion {growth / 1e6:.0f} MB = "
          f"{growth / nbytes:.2f}x the weight bytes")
    print("target (< 1.5x weight bytes):", "met" if growth < 1.5 * nbytes else "NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
