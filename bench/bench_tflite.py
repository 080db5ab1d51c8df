#!/usr/bin/env python3
"""Keras -> LiteRT (.tflite): nnconvert (flatbuffer written directly, no TensorFlow)
against TensorFlow's own TFLiteConverter, from the same .keras file.

    python3 bench/bench_tflite.py [--models resnet50,mobilenet] [--runs 20] [--converters nnconvert,...]
                                  [--out bench/results_tflite.md]

Each conversion runs in a fresh subprocess. "convert s" is the wall time of reading the
.keras file, converting and writing the .tflite (framework imports excluded; TensorFlow's
path must build the Keras model to convert it, nnconvert reads the file); "peak RSS" the
subprocess's VmHWM, imports included. Latency: LiteRT interpreter, 1 thread, median of
--runs, files timed round-robin. Max error of the logits (the classifier's softmax removed,
since over random weights it is near uniform) against Keras on the same input.
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

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
from common import markdown_table, peak_rss  # noqa: E402

ENV = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
       "PYTHONWARNINGS": "ignore", "PYTHONPATH": os.pathsep.join([str(REPO), str(BENCH), os.environ.get("PYTHONPATH", "")])}
CONVERTERS = ("nnconvert", "nnconvert fp16", "TFLiteConverter", "TFLiteConverter fp16")


def worker(conv: str, src: str, out: str, result: str) -> None:
    """One conversion, timed inside a fresh process."""
    if conv.startswith("nnconvert"):
        from convert.api import convert_file

        t0 = time.perf_counter()
        convert_file(src, out, force=True, writer_options={"precision": "fp16"} if "fp16" in conv else {})
    else:
        import keras
        import tensorflow as tf

        t0 = time.perf_counter()
        model = keras.saving.load_model(src)
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        if "fp16" in conv:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        Path(out).write_bytes(converter.convert())
    seconds = time.perf_counter() - t0
    Path(result).write_text(json.dumps({"seconds": seconds, "rss": peak_rss()}))


def transposes(path: str) -> int:
    from convert.importers.tflite.reader import read

    return sum(op.code == "TRANSPOSE" for op in read(path, Path(path).read_bytes()).ops)


def measure(name: str, work: Path, runs: int, converters=CONVERTERS) -> list[dict]:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    import keras
    from models import keras_model, keras_shape

    src = work / f"{name}.keras"
    model = keras_model(name)
    # compare logits: a softmax over 1000 classes of random weights is ~uniform and hides errors
    model.layers[-1].activation = keras.activations.linear
    model.save(str(src))
    x = np.random.default_rng(0).standard_normal(keras_shape(name)).astype(np.float32)
    ref = np.asarray(model(x, training=False))
    del model
    keras.backend.clear_session()
    rows = []
    for conv in converters:
        out, res = work / f"{name}-{conv.replace(' ', '_')}.tflite", work / "result.json"
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--worker", conv, str(src), str(out), str(res)], env=ENV,
                              capture_output=True, text=True)
        row = {"model": name, "converter": conv, "process_s": time.perf_counter() - t0}
        if proc.returncode != 0:
            row["error"] = (proc.stderr.strip().splitlines() or ["failed"])[-1][:120]
            rows.append(row)
            continue
        row.update(json.loads(res.read_text()))
        row.update(size=out.stat().st_size, transposes=transposes(str(out)), path=str(out))
        rows.append(row)
    interps = {}
    for row in rows:
        if "path" in row:
            it = Interpreter(model_path=row["path"], num_threads=1)
            it.allocate_tensors()
            interps[row["converter"]] = it
    times: dict[str, list[float]] = {k: [] for k in interps}
    for _ in range(runs):
        for conv, it in interps.items():
            d = it.get_input_details()[0]
            it.set_tensor(d["index"], x)
            t0 = time.perf_counter()
            it.invoke()
            times[conv].append(time.perf_counter() - t0)
    for row in rows:
        it = interps.get(row["converter"])
        if it is not None:
            row["latency_ms"] = 1000 * float(np.median(times[row["converter"]]))
            row["max_err"] = float(np.abs(it.get_tensor(it.get_output_details()[0]["index"]) - ref).max())
    return rows


def table(rows: list[dict]) -> str:
    cells = []
    for r in rows:
        if "error" in r:
            cells.append([r["model"], r["converter"], f"failed: {r['error']}"] + [""] * 6)
            continue
        cells.append([r["model"], r["converter"], f"{r['seconds']:.2f}", f"{r['process_s']:.1f}",
                      f"{r['rss'] / 2**20:.0f}", f"{r['latency_ms']:.1f}", f"{r['size'] / 2**20:.1f}",
                      r["transposes"], f"{r['max_err']:.1e}"])
    return markdown_table(["model", "converter", "convert s", "process s", "peak RSS MB", "LiteRT ms (1 thread)",
                           "file MB", "TRANSPOSE ops", "max error vs Keras"], cells)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:6])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--models", default="resnet50,mobilenet")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--converters", default=",".join(CONVERTERS), help="a subset of: " + ", ".join(CONVERTERS))
    ap.add_argument("--out", default=str(BENCH / "results_tflite.md"))
    args = ap.parse_args()
    os.environ.update({k: v for k, v in ENV.items() if k != "PYTHONPATH"})
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in args.models.split(","):
            rows += measure(name, Path(work), args.runs, args.converters.split(","))
    text = table(rows)
    Path(args.out).write_text(f"# Keras -> .tflite: nnconvert vs TFLiteConverter\n\n{text}\n")
    print(text)


if __name__ == "__main__":
    main()
