"""Benchmark: convert a ResNet-50-sized caffemodel (about 100 MB of random weights) to ONNX.

    python bench/bench_caffe.py [--keep DIR]

Builds a ResNet-50 deploy prototxt (MSRA style: conv + in-place BatchNorm + Scale + ReLU)
and a caffemodel with random float32 weights in a temp dir, then times the conversion in
a fresh subprocess: wall time per stage and peak RSS (VmHWM, read in the child). Targets: under 3 s,
peak RSS growth under 3x the weight bytes.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def resnet50_prototxt() -> tuple[str, list[tuple[str, list[tuple[int, ...]]]]]:
    """The prototxt text and, per layer with parameters, its blob shapes."""
    lines = ['name: "ResNet-50"', 'input: "data"', 'input_shape { dim: 1 dim: 3 dim: 224 dim: 224 }']
    params: list[tuple[str, list[tuple[int, ...]]]] = []

    def conv_bn(name, bottom, cin, cout, k, s, p, relu=True):
        lines.append(f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{name}" '
                     f'convolution_param {{ num_output: {cout} kernel_size: {k} stride: {s} pad: {p} bias_term: false }} }}')
        lines.append(f'layer {{ name: "bn_{name}" type: "BatchNorm" bottom: "{name}" top: "{name}" }}')
        lines.append(f'layer {{ name: "scale_{name}" type: "Scale" bottom: "{name}" top: "{name}" '
                     f'scale_param {{ bias_term: true }} }}')
        params.append((name, [(cout, cin, k, k)]))
        params.append((f"bn_{name}", [(cout,), (cout,), (1,)]))
        params.append((f"scale_{name}", [(cout,), (cout,)]))
        if relu:
            lines.append(f'layer {{ name: "{name}_relu" type: "ReLU" bottom: "{name}" top: "{name}" }}')
        return name

    x = conv_bn("conv1", "data", 3, 64, 7, 2, 3)
    lines.append('layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" '
                 'pooling_param { pool: MAX kernel_size: 3 stride: 2 } }')
    x, cin = "pool1", 64
    for stage, (blocks, width) in enumerate([(3, 64), (4, 128), (6, 256), (3, 512)], start=2):
        for b in range(blocks):
            name = f"res{stage}{chr(ord('a') + b)}"
            stride = 2 if b == 0 and stage > 2 else 1
            if b == 0:
                short = conv_bn(f"{name}_branch1", x, cin, width * 4, 1, stride, 0, relu=False)
            else:
                short = x
            y = conv_bn(f"{name}_branch2a", x, cin, width, 1, stride, 0)
            y = conv_bn(f"{name}_branch2b", y, width, width, 3, 1, 1)
            y = conv_bn(f"{name}_branch2c", y, width, width * 4, 1, 1, 0, relu=False)
            lines.append(f'layer {{ name: "{name}" type: "Eltwise" bottom: "{short}" bottom: "{y}" top: "{name}" }}')
            lines.append(f'layer {{ name: "{name}_relu" type: "ReLU" bottom: "{name}" top: "{name}" }}')
            x, cin = name, width * 4
    lines.append(f'layer {{ name: "pool5" type: "Pooling" bottom: "{x}" top: "pool5" '
                 'pooling_param { pool: AVE kernel_size: 7 stride: 1 } }')
    lines.append('layer { name: "fc1000" type: "InnerProduct" bottom: "pool5" top: "fc1000" '
                 'inner_product_param { num_output: 1000 } }')
    params.append(("fc1000", [(1000, 2048), (1000,)]))
    lines.append('layer { name: "prob" type: "Softmax" bottom: "fc1000" top: "prob" }')
    return "\n".join(lines) + "\n", params


def write_caffemodel(path: Path, params, rng) -> int:
    """Write layer names + blobs, encoding the packed float data directly (fast setup)."""
    sys.path.insert(0, str(REPO))
    from convert.caffe_proto import caffe_pb2
    from convert.importers.caffe.wire import _key, _len

    total = 0
    with open(path, "wb") as f:
        for name, shapes in params:
            layer = caffe_pb2.LayerParameter(name=name).SerializeToString()
            blobs = b""
            for shape in shapes:
                arr = (rng.standard_normal(shape) * 0.05).astype("<f4")
                if len(shape) == 1 and shape[0] == 1:
                    arr[:] = 999.9822  # BatchNorm scale factor as in trained files
                total += arr.nbytes
                head = caffe_pb2.BlobProto(shape=caffe_pb2.BlobShape(dim=shape)).SerializeToString()
                data = arr.tobytes()
                blob = head + _key(5, 2) + _len(len(data)) + data
                blobs += _key(7, 2) + _len(len(blob)) + blob
            body = layer + blobs
            f.write(_key(100, 2) + _len(len(body)) + body)
    return total


CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[4])
sys.path.insert(0, sys.argv[4] + "/bench")
from common import peak_rss  # VmHWM: ru_maxrss would carry the parent's RSS across fork+exec
t0 = time.perf_counter()
import onnx, onnxruntime  # noqa: F401  (imports are not conversion cost)
from convert.importers.caffe import from_caffe
from convert.exporters.onnx import save_onnx
from convert.importers.caffe import layers  # noqa: F401
from convert.importers.caffe.importer import build_graph, read_net
base = peak_rss()
t1 = time.perf_counter()
cn, blobs = read_net(sys.argv[1], sys.argv[2], False)
t2 = time.perf_counter()
graph, _ = build_graph(cn, blobs, False, sys.argv[1])
t3 = time.perf_counter()
after_import = peak_rss()
save_onnx(graph, sys.argv[3], check=False)
t4 = time.perf_counter()
peak = peak_rss()
print(json.dumps({"parse_s": t2 - t1, "build_s": t3 - t2, "onnx_write_s": t4 - t3, "total_s": t4 - t1,
                  "import_s": t1 - t0, "rss_base": base, "rss_import": after_import, "rss_peak": peak, "weight_bytes": graph.weight_bytes()}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", help="write the files into this folder and keep them")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_caffe_"))
    tmp.mkdir(parents=True, exist_ok=True)
    text, params = resnet50_prototxt()
    (tmp / "deploy.prototxt").write_text(text)
    t = time.perf_counter()
    nbytes = write_caffemodel(tmp / "resnet50.caffemodel", params, np.random.default_rng(0))
    print(f"setup: {nbytes / 1e6:.1f} MB of weights, caffemodel "
          f"{(tmp / 'resnet50.caffemodel').stat().st_size / 1e6:.1f} MB, written in {time.perf_counter() - t:.1f} s")
    rows = []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-c", CHILD, str(tmp / "deploy.prototxt"), str(tmp / "resnet50.caffemodel"),
                              str(tmp / "resnet50.onnx"), str(REPO)], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = min(rows, key=lambda r: r["total_s"])
    growth = best["rss_peak"] - best["rss_base"]
    print("| stage | seconds (best of %d) |" % len(rows))
    print("| --- | --- |")
    for k in ("parse_s", "build_s", "onnx_write_s", "total_s"):
        print(f"| {k[:-2]} | {best[k]:.2f} |")
    imp = best["rss_import"] - best["rss_base"]
    print(f"\nimport alone (parse + build IR): peak RSS growth {imp / 1e6:.0f} MB = "
          f"{imp / best['weight_bytes']:.2f}x the weight bytes (weights stay views of the file bytes)")
    print(f"weights {best['weight_bytes'] / 1e6:.1f} MB; peak RSS {best['rss_peak'] / 1e6:.0f} MB "
          f"(interpreter + onnx/onnxruntime imports {best['rss_base'] / 1e6:.0f} MB); growth during conversion "
          f"{growth / 1e6:.0f} MB = {growth / best['weight_bytes']:.2f}x the weight bytes")
    ok = best["total_s"] < 3.0 and growth < 3 * best["weight_bytes"]
    print("targets (< 3 s, < 3x weight bytes):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
