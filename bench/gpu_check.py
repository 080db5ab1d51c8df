"""Convert and verify a small CNN and an LSTM on onnxruntime's CUDA provider.

    python bench/gpu_check.py                  # --device cuda (strict: fails if CUDA is not active)
    python bench/gpu_check.py --device cpu     # the same check on the CPU (what CI can run)

Needs no network: it uses whatever onnxruntime(-gpu) is installed. Sources are torch
models (.pt2, random weights) when torch is importable, else the same networks built
directly as nnconvert IR (.nnir), whose source side runs in onnxruntime on the CPU.
Each model is converted to ONNX with `convert --verify --per-layer` semantics and the
written file verified on --device; the reports (table + JSON) are printed and written
to --out. Exit status: 0 all pass, 1 a mismatch, 3 a side could not run.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def torch_models(folder: Path) -> list[tuple[str, Path]]:
    import torch
    from torch import nn

    torch.manual_seed(0)

    class Cnn(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
            self.fc = nn.Linear(32, 10)

        def forward(self, x):
            return self.fc(torch.flatten(self.features(x), 1))

    class Lstm(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True)
            self.fc = nn.Linear(16, 4)

        def forward(self, x):
            y, _ = self.lstm(x)
            return self.fc(y[:, -1])

    out = []
    auto = torch.export.Dim.AUTO
    for name, model, example, dims in (("cnn", Cnn(), torch.randn(2, 3, 32, 32), {0: auto}),
                                       ("lstm", Lstm(), torch.randn(2, 12, 8), {0: auto, 1: auto})):
        model.eval()
        ep = torch.export.export(model, (example,), dynamic_shapes=(dims,))
        path = folder / f"{name}.pt2"
        torch.export.save(ep, str(path))
        out.append((name, path))
    return out


def ir_models(folder: Path) -> list[tuple[str, Path]]:
    import numpy as np

    from convert.ir import GraphBuilder, save
    from convert.ir.graph import Source

    rng = np.random.default_rng(0)
    b = GraphBuilder("cnn", "ir")
    x = b.input("x", shape=("batch", 3, 32, 32))
    for i, (cin, cout) in enumerate(((3, 16), (16, 32))):
        b.source = Source("ir", "Conv", f"conv{i}")
        x = b.op("Conv", x, b.weight(f"w{i}", rng.standard_normal((cout, cin, 3, 3)) * (2 / (9 * cin)) ** 0.5),
                 b.weight(f"b{i}", rng.uniform(-0.1, 0.1, cout)), kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        b.source = Source("ir", "Relu", f"relu{i}")
        x = b.op("Relu", x)
        b.source = Source("ir", "MaxPool", f"pool{i}")
        x = b.op("MaxPool", x, kernel_shape=[2, 2], strides=[2, 2])
    b.source = Source("ir", "GlobalAveragePool", "gap")
    x = b.op("Flatten", b.op("GlobalAveragePool", x), axis=1)
    b.source = Source("ir", "Gemm", "fc")
    b.output(b.op("Gemm", x, b.weight("fcw", rng.standard_normal((10, 32)) * 0.2), transB=1))
    save(b.finish(), folder / "cnn.nnir")

    b = GraphBuilder("lstm", "ir")
    x = b.input("x", shape=("seq", "batch", 8))
    h = 16
    b.source = Source("ir", "LSTM", "lstm")
    w = b.weight("W", rng.standard_normal((1, 4 * h, 8)) * 0.3)
    r = b.weight("R", rng.standard_normal((1, 4 * h, h)) * 0.3)
    bias = b.weight("B", rng.uniform(-0.1, 0.1, (1, 8 * h)))
    _, yh = _lstm(b, x, w, r, bias, h)
    b.source = Source("ir", "Gemm", "fc")
    flat = b.op("Squeeze", yh, axes=[0])  # Y_h is (directions, batch, hidden)
    b.output(b.op("Gemm", flat, b.weight("fcw", rng.standard_normal((4, h)) * 0.3), transB=1))
    save(b.finish(), folder / "lstm.nnir")
    return [("cnn", folder / "cnn.nnir"), ("lstm", folder / "lstm.nnir")]


def _lstm(b, x, w, r, bias, h):
    """An LSTM node with two outputs (Y, Y_h) through the builder's generic emit."""
    from convert.ir.graph import Node

    y, yh = b.unique("lstm_y"), b.unique("lstm_h")
    b.graph.nodes.append(Node("LSTM", b.unique("lstm"), [x, w, r, bias], [y, yh], {"hidden_size": h}, b.source))
    return y, yh


def check(name: str, source: Path, folder: Path, device: str) -> int:
    from convert.api import convert_file, verify
    from convert.errors import NNConvertError

    target = folder / f"{name}.onnx"
    t0 = time.perf_counter()
    try:
        convert_file(str(source), str(target), force=True)
        rep = verify(str(source), str(target), device=device, samples=2, per_layer=True, artifacts=folder / name)
    except NNConvertError as e:
        print(f"== {name}: cannot verify: {e}")
        return e.exit_code
    print(f"== {name} ({source.name} -> {target.name}, {time.perf_counter() - t0:.1f} s)")
    print(rep.table())
    (folder / f"{name}.report.json").write_text(rep.dumps())
    (folder / f"{name}.report.md").write_text(rep.to_markdown(relative_to=str(folder / f"{name}.report.md")))
    worst = {o.name: o.max_abs for o in rep.worst()}
    print(json.dumps({"model": name, "verdict": "pass" if rep.ok else "fail", "providers": rep.providers,
                      "worst_max_abs": worst, "tolerances": rep.tolerances()}))
    return 0 if rep.ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    ap.add_argument("--out", help="folder for models and reports (default: a temporary folder)")
    ap.add_argument("--ir", action="store_true", help="use the IR-built models even when torch is importable")
    args = ap.parse_args()
    import onnxruntime as ort

    print(f"onnxruntime {ort.__version__}, available providers: {ort.get_available_providers()}")
    folder = Path(args.out or tempfile.mkdtemp(prefix="nnconvert-gpu-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if args.ir:
            raise ImportError
        import torch  # noqa: F401

        models = torch_models(folder)
        print(f"sources: torch {torch.__version__} (.pt2)")
    except ImportError:
        models = ir_models(folder)
        print("sources: nnconvert IR (.nnir; source side on the CPU)")
    codes = [check(name, path, folder, args.device) for name, path in models]
    print(f"reports in {folder}")
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
