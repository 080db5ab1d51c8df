"""PyTorch -> ONNX: nnconvert vs torch.onnx (dynamo=True and TorchScript).

    pip install -r bench/requirements-torch.txt
    python bench/bench_torch.py [--runs 20] [--threads 1]

For a ResNet-50 (written here, random weights) and a 2-layer LSTM, each converter runs
in its own subprocess (so peak RSS is its own: the worker's VmHWM,
import torch included); conversion time is the wall time of the conversion call,
excluding interpreter start, ``import torch`` and building the model (reported
separately as "startup"). Then each ONNX file is timed in onnxruntime (median of
--runs after warm-up) and checked against torch's output. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from common import peak_rss  # noqa: E402  (VmHWM inside the worker, as bench/run measures it)
OPSET = 18
CONVERTERS = ("nnconvert", "torch.onnx dynamo", "torch.onnx torchscript")


# -- models -----------------------------------------------------------------------
def resnet50():
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, cin, width, stride):
            super().__init__()
            cout = width * 4
            self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
            self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
            self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.downsample = None if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.relu(self.bn2(self.conv2(y)))
            y = self.bn3(self.conv3(y))
            return self.relu(y + (x if self.downsample is None else self.downsample(x)))

    class ResNet50(nn.Module):
        def __init__(self, classes=1000):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
            self.relu, self.maxpool = nn.ReLU(), nn.MaxPool2d(3, 2, 1)
            layers, cin = [], 64
            for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
                seq = []
                for i in range(blocks):
                    seq.append(Bottleneck(cin, width, stride if i == 0 else 1))
                    cin = width * 4
                layers.append(nn.Sequential(*seq))
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.avgpool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(2048, classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet50()


def lstm_model():
    from torch import nn

    class LSTMNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(128, 256, num_layers=2, batch_first=True)
            self.fc = nn.Linear(256, 10)

        def forward(self, x):
            return self.fc(self.lstm(x)[0])

    return LSTMNet()


MODELS = {"resnet50": (resnet50, (1, 3, 224, 224)), "lstm": (lstm_model, (1, 50, 128))}


# -- worker: one conversion in a fresh process ------------------------------------
def worker(converter: str, model_name: str, out: str) -> None:
    t0 = time.perf_counter()
    import torch

    torch.manual_seed(0)
    build, shape = MODELS[model_name]
    model = build().eval()
    x = torch.randn(2, *shape[1:])  # trace at batch 2 so every exporter keeps the batch dynamic
    t1, c1 = time.perf_counter(), time.process_time()
    if converter == "nnconvert":
        sys.path.insert(0, str(REPO))
        from convert.exporters.onnx import save_onnx
        from convert.importers.torch import from_torch
        from convert.api import optimize_graph as optimize

        save_onnx(optimize(from_torch(model, (x,))), out, opset=OPSET)
    elif converter == "torch.onnx dynamo":
        import warnings

        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), out, dynamo=True, opset_version=OPSET, input_names=["x"],
                          dynamic_shapes=({0: torch.export.Dim.AUTO},), verbose=False, external_data=False)
    else:
        import warnings

        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), out, dynamo=False, opset_version=OPSET, input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}})
    t2, c2 = time.perf_counter(), time.process_time()
    peak = peak_rss() / 2**20
    print(json.dumps({"startup_s": t1 - t0, "convert_s": t2 - t1, "convert_cpu_s": c2 - c1,
                      "peak_rss_mb": peak}))


def run_worker(converter: str, model_name: str, out: str) -> dict:
    """One conversion in a fresh process; its peak RSS is that process's own VmHWM,
    read inside it (ru_maxrss would include this parent's)."""
    proc = subprocess.run([sys.executable, __file__, "--worker", converter, model_name, out],
                          capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- onnxruntime latency ------------------------------------------------------------
def ort_latencies(paths: dict, shape, runs: int, threads: int, reference) -> dict:
    """Median latency per file, the sessions run round-robin so that load from other
    processes on the machine hits every converter alike."""
    import numpy as np
    import onnxruntime as ort

    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    expected = reference(x)
    sessions, errs = {}, {}
    for name, path in paths.items():
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        sessions[name] = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        feed = {sessions[name].get_inputs()[0].name: x}
        errs[name] = float(np.abs(sessions[name].run(None, feed)[0] - expected).max())
        sessions[name].run(None, feed)
    times: dict = {n: [] for n in sessions}
    for _ in range(runs):
        for name, sess in sessions.items():
            feed = {sess.get_inputs()[0].name: x}
            t = time.perf_counter()
            sess.run(None, feed)
            times[name].append(time.perf_counter() - t)
    return {n: (float(np.median(times[n])) * 1000, errs[n]) for n in sessions}


def torch_reference(model_name: str):
    import torch

    torch.manual_seed(0)
    build, _ = MODELS[model_name]
    model = build().eval()

    def ref(x):
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    return ref


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", nargs=3)
    ap.add_argument("--runs", type=int, default=20, help="onnxruntime runs per file")
    ap.add_argument("--reps", type=int, default=2, help="conversions per converter (best time is kept)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", default="resnet50,lstm")
    a = ap.parse_args()
    if a.worker:
        worker(*a.worker)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model_name in a.models.split(","):
            results: dict = {c: {} for c in CONVERTERS}
            paths = {}
            for _ in range(a.reps):  # interleaved, best of reps: the machine may be shared
                for conv in CONVERTERS:
                    out = str(Path(tmp) / f"{model_name}_{conv.replace(' ', '_')}.onnx")
                    r = run_worker(conv, model_name, out)
                    print(f"# {model_name} {conv}: {r}", file=sys.stderr)
                    best = results[conv]
                    if "error" in r:
                        best.setdefault("error", r["error"])
                        continue
                    paths[conv] = out
                    for k, v in r.items():
                        best[k] = min(v, best.get(k, v))
            ref = torch_reference(model_name)
            lat = ort_latencies(paths, MODELS[model_name][1], a.runs, a.threads, ref)
            for conv in CONVERTERS:
                r = results[conv]
                if conv in lat and "error" not in r:
                    r["latency_ms"], r["max_abs_err"] = lat[conv]
                rows.append((model_name, conv, r))
    print(table(rows))


def table(rows) -> str:
    lines = ["| model | converter | convert s (wall) | vs ours | convert s (CPU) | vs ours | peak RSS MB | vs ours "
             "| ORT ms | vs ours | max abs err vs torch |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    ours = {m: r for m, c, r in rows if c == "nnconvert" and "error" not in r}
    for m, c, r in rows:
        if "error" in r:
            lines.append(f"| {m} | {c} | failed: {r['error'][:80]} | | | | | | | | |")
            continue
        o = ours.get(m)

        def ratio(k):
            return f"{r[k] / o[k]:.2f}x" if o and o[k] else ""
        lines.append(f"| {m} | {c} | {r['convert_s']:.2f} | {ratio('convert_s')} | {r['convert_cpu_s']:.2f} | "
                     f"{ratio('convert_cpu_s')} | "
                     f"{r['peak_rss_mb']:.0f} | {ratio('peak_rss_mb')} | {r['latency_ms']:.2f} | "
                     f"{ratio('latency_ms')} | {r['max_abs_err']:.1e} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
