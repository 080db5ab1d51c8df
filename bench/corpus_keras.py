#!/usr/bin/env python3
"""The torchvision corpus through .keras: each model (small input, signal-carrying weights,
``tests/torchvision_zoo.py``) imported from a ``.pt2`` exported with a dynamic batch (or
traced live with ``--live``), written as a ``.keras`` file, loaded back with Keras' safe
mode and run at batch 1 and 2 against torch.

    python3 bench/corpus_keras.py [--models vit_b_16,swin_t,maxvit_t] [--out bench/results_keras_corpus.md]

Tolerance: max abs error <= 1e-4 * max(1, |logits|), as the ONNX and LiteRT corpora.
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

TOL = 1e-4
TRANSFORMERS = ("vit_b_16", "swin_t", "maxvit_t")


def one(name: str, work: Path, model=None, pt2: bool = True, graph=None) -> dict:
    """The row of one model (``model``: the zoo's, already built; ``graph``: its optimised
    IR, already imported)."""
    import keras
    import torch

    import torchvision_zoo as zoo
    from convert.exporters.keras import export as keras_export
    from corpus_tflite import imported_graph

    size = zoo.MODELS[name][1]
    model = zoo.build_model(name) if model is None else model
    row = {"model": name, "size": size}
    try:
        t0 = time.perf_counter()
        graph = imported_graph(name, model, work, pt2) if graph is None else graph
        path = work / f"{name}.keras"
        keras_export.save(graph, path)
        row.update(seconds=time.perf_counter() - t0, mb=path.stat().st_size / 2**20)
        loaded = keras.saving.load_model(str(path), safe_mode=True)
        path.unlink()
        worst = 0.0
        for batch in (1, 2):
            x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(batch))
            with torch.no_grad():
                ref = model(x).numpy()
            got = keras.ops.convert_to_numpy(loaded(x.numpy(), training=False))
            assert got.shape == ref.shape, (got.shape, ref.shape)
            worst = max(worst, float(np.abs(got - ref).max()) / max(1.0, float(np.abs(ref).max())))
        row.update(err=worst, ok=worst <= TOL, layers=len(loaded.layers))
    except Exception as e:  # noqa: BLE001  (a row per model, whatever fails)
        row["error"] = (str(e).strip().splitlines() or [type(e).__name__])[0][:150]
        if "--debug" in sys.argv:
            traceback.print_exc()
    return row


def table(rows: list[dict]) -> str:
    from common import markdown_table

    cells = []
    for r in rows:
        if "error" in r:
            cells.append([r["model"], r["size"], f"fails: {r['error']}", "", "", "", ""])
        else:
            cells.append([r["model"], r["size"], "match" if r["ok"] else "MISMATCH", f"{r['err']:.1e}", r["layers"],
                          f"{r['mb']:.1f}", f"{r['seconds']:.1f}"])
    return markdown_table(["model", "input", "result", "max error / max(1, abs logits)", "layers", "file MB",
                           "convert s"], cells)


def main() -> None:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(TRANSFORMERS))
    ap.add_argument("--out", default=str(BENCH / "results_keras_corpus.md"))
    ap.add_argument("--live", action="store_true", help="trace the live module instead of a .pt2")
    ap.add_argument("--debug", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in args.models.split(","):
            rows.append(one(name, Path(work), pt2=not args.live))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    text = table(rows)
    Path(args.out).write_text(f"# torchvision corpus -> .keras (Keras vs torch)\n\n{text}\n")
    print(text)


if __name__ == "__main__":
    main()
