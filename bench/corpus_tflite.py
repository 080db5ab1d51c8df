#!/usr/bin/env python3
"""The torchvision corpus through .tflite: each model (small input, signal-carrying weights,
``tests/torchvision_zoo.py``) imported from torch, written as fp32 and fp16 LiteRT files
with channels-last image interfaces, run in LiteRT's interpreter at batch 1 and 2 (the
batch is dynamic) and compared with torch.

    python3 bench/corpus_tflite.py [--models resnet18,mobilenet_v2] [--out bench/results_tflite_corpus.md] [--pt2]

``--pt2`` imports each model from a ``.pt2`` exported with a dynamic batch (torch.export)
instead of tracing the live module.

Tolerances: fp32 max abs error <= 1e-4 * max(1, |logits|); fp16 <= max(2e-2, twice the error of torch
with its own weights rounded to fp16) * max(1, |logits|).
A model whose conversion fails is listed with the first line of its error."""
from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(BENCH)]

TOL = {"fp32": 1e-4, "fp16": 2e-2}


def imported_graph(name: str, model, work: Path, pt2: bool):
    """The optimised IR of ``model``: traced live, or read from a dynamic-batch ``.pt2``
    (deleted again: the corpus' files are large)."""
    import torch

    import convert
    import torchvision_zoo as zoo
    from convert.api import prepare
    from convert.importers.torch import load

    size = zoo.MODELS[name][1]
    x = torch.randn(2, 3, size, size)
    if not pt2:
        return prepare(convert.from_torch(model, (x,)))[0]
    path = work / f"{name}.pt2"
    with torch.no_grad():
        torch.export.save(torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim("batch")},)), path)
    try:
        graph = load(str(path)).graph
    finally:
        path.unlink()
    assert graph.inputs[0].shape[0] == "batch", graph.inputs[0]
    return prepare(graph)[0]


def one(name: str, work: Path, model=None, pt2: bool = False, graph=None) -> list[dict]:
    """The fp32 and fp16 rows of one model (``model``: the zoo's, already built; ``graph``:
    its optimised IR, already imported)."""
    import torch

    import torchvision_zoo as zoo
    from convert.exporters.tflite import to_tflite
    from convert.exporters.tflite.runner import LiteRTModel

    size = zoo.MODELS[name][1]
    model = zoo.build_model(name) if model is None else model
    t0 = time.perf_counter()
    graph = imported_graph(name, model, work, pt2) if graph is None else graph
    imported = time.perf_counter() - t0
    rows = []
    for mode in ("fp32", "fp16"):
        row = {"model": name, "mode": mode, "size": size}
        try:
            t0 = time.perf_counter()
            data, ctx = to_tflite(graph, precision=mode, io_layout="nhwc")
            row.update(seconds=imported + time.perf_counter() - t0, transposes=ctx.transposes,
                       ops=len(ctx.operators), mb=len(data) / 2**20)
            path = work / f"{name}-{mode}.tflite"
            path.write_bytes(data)
            runner = LiteRTModel(path, ([v.name for v in graph.inputs], [v.name for v in graph.outputs]))
            worst, own = 0.0, 0.0
            rounded = _half_weights(model) if mode == "fp16" else None
            for batch in (1, 2):
                x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(batch))
                with torch.no_grad():
                    ref = model(x).numpy()
                    scale = max(1.0, float(np.abs(ref).max()))
                    if rounded is not None:
                        own = max(own, float(np.abs(rounded(x).numpy() - ref).max()) / scale)
                got = runner.run({graph.inputs[0].name: x.numpy()})[graph.outputs[0].name]
                worst = max(worst, float(np.abs(got - ref).max()) / scale)
            # fp16 weights: the bound, or twice what rounding torch's own weights to fp16 moves
            # the logits, whichever is larger (a calibrated deep net amplifies the rounding)
            bound = max(TOL[mode], 2 * own)
            row.update(err=worst, bound=bound, ok=worst <= bound)
        except Exception as e:  # noqa: BLE001  (a row per model, whatever fails)
            row["error"] = (str(e).strip().splitlines() or [type(e).__name__])[0][:150]
            if "--debug" in sys.argv:
                traceback.print_exc()
        rows.append(row)
    return rows


def _half_weights(model):
    """A copy of ``model`` whose parameters and buffers are rounded through float16."""
    import copy

    import torch

    rounded = copy.deepcopy(model)
    with torch.no_grad():
        for t in list(rounded.parameters()) + list(rounded.buffers()):
            if t.is_floating_point():
                t.copy_(t.half().float())
    return rounded.eval()


def table(rows: list[dict]) -> str:
    from common import markdown_table

    cells = []
    for r in rows:
        head = [r["model"], r["size"], r["mode"]]
        if "error" in r:
            cells.append(head + [f"fails: {r['error']}"] + [""] * 5)
        else:
            cells.append(head + ["match" if r["ok"] else "MISMATCH", f"{r['err']:.1e}", r["transposes"], r["ops"],
                                 f"{r['mb']:.1f}", f"{r['seconds']:.1f}"])
    return markdown_table(["model", "input", "weights", "result", "max error / max(1, abs logits)", "TRANSPOSE",
                           "ops", "file MB", "convert s"], cells)


def main() -> None:
    import tempfile

    import torchvision_zoo as zoo

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(zoo.MODELS))
    ap.add_argument("--out", default=str(BENCH / "results_tflite_corpus.md"))
    ap.add_argument("--debug", action="store_true")
    ap.add_argument("--pt2", action="store_true", help="import from a dynamic-batch .pt2, not the live module")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in args.models.split(","):
            try:
                rows += one(name, Path(work), pt2=args.pt2)
            except Exception as e:  # noqa: BLE001  (the model itself failed to build or import)
                rows.append({"model": name, "mode": "-", "size": zoo.MODELS[name][1],
                             "error": "import: " + (str(e).strip().splitlines() or [type(e).__name__])[0][:140]})
            print(table(rows[-2:]).splitlines()[-1], flush=True)
    text = table(rows)
    Path(args.out).write_text(f"# torchvision corpus -> .tflite (LiteRT interpreter vs torch)\n\n{text}\n")
    print(text)


if __name__ == "__main__":
    main()
