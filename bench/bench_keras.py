"""Keras -> ONNX: nnconvert (from the file, no TensorFlow) against tf2onnx.

Each conversion runs in its own subprocess; the parent measures its wall time and peak
RSS (os.wait4), then times the resulting ONNX file in onnxruntime. Run from the repo root:

    python bench/bench_keras.py [--tf2onnx-python /tmp/tfenv/bin/python] [--runs 20]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
       "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}

BUILD = r"""
import sys, keras
out = sys.argv[1]
keras.utils.set_random_seed(0)
keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3)).save(out + "/resnet50.keras")
L = keras.layers
ids = keras.Input((64,), dtype="int32", name="tokens")
x = L.Embedding(20000, 128)(ids)
x = L.Bidirectional(L.LSTM(128, return_sequences=True))(x)
x = L.Bidirectional(L.LSTM(64))(x)
keras.Model(ids, L.Dense(2, activation="softmax")(x)).save(out + "/bilstm.keras")
"""

OURS = r"""
import sys
from convert.importers.keras import load
from convert.exporters.onnx import save_onnx
from convert.api import optimize_graph as optimize
save_onnx(optimize(load(sys.argv[1]).graph), sys.argv[2], opset=17)
assert not [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")]
"""

TF2ONNX = r"""
import sys, keras, tensorflow as tf, tf2onnx
m = keras.saving.load_model(sys.argv[1], compile=False)
spec = [tf.TensorSpec(t.shape, t.dtype, name=t.name.split(":")[0]) for t in m.inputs]
tf2onnx.convert.from_keras(m, input_signature=spec, opset=17, output_path=sys.argv[2])
"""

LATENCY = r"""
import sys, time, numpy as np, onnxruntime as ort
so = ort.SessionOptions(); so.intra_op_num_threads = 2
s = ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
rng = np.random.default_rng(0)
feeds = {}
for i in s.get_inputs():
    shape = [1 if not isinstance(d, int) else d for d in i.shape]
    feeds[i.name] = (rng.integers(0, 100, shape).astype(np.int32 if "int32" in i.type else np.int64)
                     if "int" in i.type else rng.standard_normal(shape).astype(np.float32))
for _ in range(3): s.run(None, feeds)
ts = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter(); s.run(None, feeds); ts.append(time.perf_counter() - t)
print(sorted(ts)[len(ts) // 2] * 1000)
"""


def measure(python: str, code: str, *args: str) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one subprocess."""
    # Peak RSS is the child's VmHWM read inside it: the wait4 ru_maxrss of a child carries
    # this parent's RSS over fork+exec.
    code += "\nimport sys as _s; _s.stderr.write('VmHWM ' + open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"
    t = time.perf_counter()
    p = subprocess.Popen([python, "-c", code, *args], env=ENV, cwd=REPO, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _, status, _usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    err = p.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"subprocess failed:\n{err[-3000:]}")
    return wall, int(err.rsplit("VmHWM ", 1)[1].split()[0]) / 1024


def latency(path: str, runs: int) -> float:
    out = subprocess.run([sys.executable, "-c", LATENCY, path, str(runs)], env=ENV, capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tf2onnx-python", default=sys.executable, help="python with tensorflow + tf2onnx")
    ap.add_argument("--runs", type=int, default=20, help="onnxruntime timing runs (median)")
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    work = Path(a.workdir or tempfile.mkdtemp(prefix="bench_keras_"))
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "resnet50.keras").exists():
        subprocess.run([sys.executable, "-c", BUILD, str(work)], env=ENV, check=True, stderr=subprocess.DEVNULL)
    rows = []
    for model in ("resnet50", "bilstm"):
        src = str(work / f"{model}.keras")
        res = {}
        for tool, python, code in (("nnconvert", sys.executable, OURS), ("tf2onnx", a.tf2onnx_python, TF2ONNX)):
            dst = str(work / f"{model}.{tool}.onnx")
            wall, rss = measure(python, code, src, dst)
            res[tool] = (wall, rss, latency(dst, a.runs))
        rows.append((model, res))
    print(f"{'model':<10}{'tool':<11}{'wall s':>8}{'peak RSS MiB':>14}{'ORT ms':>9}")
    for model, res in rows:
        for tool, (w, r, l) in res.items():
            print(f"{model:<10}{tool:<11}{w:>8.2f}{r:>14.0f}{l:>9.2f}")
        (w0, r0, l0), (w1, r1, l1) = res["nnconvert"], res["tf2onnx"]
        print(f"{model:<10}{'ratio':<11}{w0 / w1:>8.1%}{r0 / r1:>14.1%}{l0 / l1:>9.2f}  (nnconvert / tf2onnx)")


if __name__ == "__main__":
    main()
