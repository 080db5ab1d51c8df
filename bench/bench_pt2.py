#!/usr/bin/env python3
"""`.pt2` -> ONNX as a whole process: nnconvert's archive reader against the
torch-based path (`--trust-code`: torch.export.load), side by side in one run.

    python bench/bench_pt2.py [--model resnet50] [--runs 5] [--baseline DIR] [--no-trust-code]

``--baseline DIR`` adds the reader path of another checkout (say an older commit unpacked
with ``git archive``) to the same alternating runs, for a before/after under equal load;
``--no-trust-code`` leaves out the slow torch-based path.

The model (bench/models.py, random weights) is exported once with a dynamic batch.
Each run is `nnconvert convert model.pt2 -o model.onnx --force` in a fresh process,
started from a small driver that reports the child's wall time and peak RSS
(getrusage of its only child; the driver itself is far smaller than either path).
Runs alternate between the paths so machine load hits all alike; CPU seconds (user +
system of the child) are reported beside wall time, as they depend less on other load. Also lists what
the reader path imports (`python -X importtime`): neither torch, tensorflow nor onnx may
appear. Targets (issue 12): at most 1.0 s and peak RSS at most 1.5x the weight bytes.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
DRIVER = ("import json, resource, subprocess, sys, time\n"
          "t = time.perf_counter()\n"
          "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
          "wall = time.perf_counter() - t\n"
          "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
          "print(json.dumps({'rc': r.returncode, 'wall': wall, 'err': r.stderr[-300:],\n"
          "                  'cpu': u.ru_utime + u.ru_stime, 'rss': u.ru_maxrss * 1024}))\n")
HEAVY = ("torch", "tensorflow", "keras", "jax", "sympy", "onnx", "onnxruntime", "google")


def export(model_name: str, folder: Path) -> tuple[Path, int]:
    import torch

    from models import SHAPES, torch_model

    model = torch_model(model_name)
    shape = SHAPES[model_name]
    x = torch.randn(2, *shape[1:])
    ep = torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim.AUTO},))
    path = folder / f"{model_name}.pt2"
    torch.export.save(ep, path)
    weight_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    return path, weight_bytes


def one_run(pt2: Path, out: Path, extra: list[str], env: dict, repo: Path = REPO) -> dict:
    cmd = [sys.executable, str(repo / "cli.py"), "convert", str(pt2), "-o", str(out), "--force", *extra]
    res = one_run_cmd(cmd, dict(env, PYTHONPATH=str(repo)))
    if res["rc"] != 0:
        raise SystemExit(f"conversion failed: {res['err']}")
    return res


def one_run_cmd(cmd: list[str], env: dict) -> dict:
    r = subprocess.run([sys.executable, "-c", DRIVER, *cmd], capture_output=True, text=True, env=env, check=True)
    return json.loads(r.stdout)


def imports(pt2: Path, out: Path, env: dict) -> tuple[list[str], list[tuple[float, str]]]:
    # -v: without it the CLI sends fd 2 (where -X importtime writes) to a scratch file while
    # it runs, and the imports made during the conversion itself would not be seen
    cmd = [sys.executable, "-X", "importtime", str(REPO / "cli.py"), "-v", "convert", str(pt2), "-o", str(out),
           "--force"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    top = []
    for line in r.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cum, name = [p.strip() for p in line[len("import time:"):].split("|")]
            if not name.startswith(" ") and "." not in name:
                top.append((int(cum) / 1e6, name))
    names = {n for _, n in top}
    return sorted(h for h in HEAVY if h in names), sorted(top, reverse=True)[:6]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline", type=Path, help="another checkout whose reader path runs alongside")
    ap.add_argument("--no-trust-code", action="store_true", help="skip the torch.export.load path")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # compiled bytecode cached as an installed package has it (in the temp folder)
        env = dict(os.environ, PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3",
                   PYTHONPYCACHEPREFIX=str(folder / "pycache"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        pt2, weight_bytes = export(args.model, folder)
        paths = {"nnconvert (archive reader)": ([], REPO),
                 "nnconvert (archive reader), --disable-pass fold-batchnorm": (["--disable-pass", "fold-batchnorm"],
                                                                              REPO),
                 "nnconvert --trust-code (torch.export.load)": (["--trust-code"], REPO)}
        if args.no_trust_code:
            del paths["nnconvert --trust-code (torch.export.load)"]
        if args.baseline:
            paths[f"baseline {args.baseline.name} (archive reader)"] = ([], args.baseline.resolve())
        results: dict[str, list[dict]] = {p: [] for p in paths}
        for label, (extra, repo) in paths.items():  # warm-up: writes the bytecode cache
            one_run(pt2, folder / "warm.onnx", extra, env, repo)
        base = one_run_cmd([sys.executable, "-c", "import convert.cli.main, convert.exporters.onnx, numpy"],
                           env)["rss"] / 2**20
        for i in range(args.runs):
            for label, (extra, repo) in paths.items():
                results[label].append(one_run(pt2, folder / f"{i}.onnx", extra, env, repo))
        heavy, top = imports(pt2, folder / "imports.onnx", env)
    mb = weight_bytes / 2**20
    load = os.getloadavg()[0]
    print(f"{args.model}: {pt2.name} weights {mb:.1f} MB, {args.runs} runs per path (alternating), "
          f"{os.cpu_count()} CPUs, load average {load:.1f} at the end; the process importing what the "
          f"reader path imports peaks at {base:.0f} MB\n")
    print("| path | process s (best) | process s (median) | CPU s (best) | CPU s (median) | peak RSS MB | x weights | "
          "growth x weights |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, runs in results.items():
        walls = [r["wall"] for r in runs]
        rss = max(r["rss"] for r in runs) / 2**20
        cpus = [r["cpu"] for r in runs]
        print(f"| {label} | {min(walls):.2f} | {statistics.median(walls):.2f} | {min(cpus):.2f} | "
              f"{statistics.median(cpus):.2f} | "
              f"{rss:.0f} | {rss / mb:.2f} | {(rss - base) / mb:.2f} |")
    print(f"\nheavy modules imported by the reader path: {heavy or 'none'}")
    print("largest top-level imports (cumulative s): " + ", ".join(f"{n} {s:.2f}" for s, n in top))


if __name__ == "__main__":
    main()
