#!/usr/bin/env python3
"""The torchvision corpus through .tflite: each model (small input, signal-carrying weights,
``tests/torchvision_zoo.py``) imported from torch, written as fp32 and fp16 LiteRT files
with channels-last image interfaces, run in LiteRT's interpreter at batch 1 and 2 (the
batch is dynamic) and compared with torch. ``--keras``: the keras.applications CI set
instead, each converted from its ``.keras`` file and compared with Keras.

    python3 bench/corpus_tflite.py [--models resnet18,mobilenet_v2] [--out bench/results_tflite_corpus.md] [--pt2]
    python3 bench/corpus_tflite.py --keras [--models ResNet50] [--out bench/results_tflite_keras.md]

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

    size = zoo.MODELS[name][1]
    model = zoo.build_model(name) if model is None else model
    t0 = time.perf_counter()
    graph = imported_graph(name, model, work, pt2) if graph is None else graph
    imported = time.perf_counter() - t0
    xs = [torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(batch)) for batch in (1, 2)]
    rounded = _half_weights(model)
    floor = 0.0
    with torch.no_grad():
        refs = [model(x).numpy() for x in xs]
        halves = [rounded(x).numpy() for x in xs]
        if name in FLOAT64_REFERENCE:
            import copy

            wide = copy.deepcopy(model).double()
            refs64 = [wide(x.double()).float().numpy() for x in xs]
            floor = max(2 * float(np.abs(r - r64).max()) / max(1.0, float(np.abs(r64).max()))
                        for r, r64 in zip(refs, refs64))
            refs = refs64
    return through_tflite(name, size, graph, [x.numpy() for x in xs], refs, halves, work, imported, floor)


def through_tflite(name: str, size: int, graph, xs: list, refs: list, halves: list, work: Path,
                   imported: float, floor: float = 0.0) -> list[dict]:
    """fp32 and fp16 rows: ``graph`` written with channels-last image interfaces, run in
    LiteRT on ``xs`` against the source's ``refs``; ``halves`` are the source's outputs with
    its weights rounded through float16 (the fp16 bound); ``floor``: a bound no tighter
    than which any float32 run can meet (relative, as the errors)."""
    from convert.exporters.tflite import to_tflite
    from convert.exporters.tflite.runner import LiteRTModel

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
            del data
            runner = LiteRTModel(path, ([v.name for v in graph.inputs], [v.name for v in graph.outputs]))
            worst, own = 0.0, 0.0
            for x, ref, half in zip(xs, refs, halves):
                scale = max(1.0, float(np.abs(ref).max()))
                if mode == "fp16":
                    own = max(own, float(np.abs(half - ref).max()) / scale)
                got = runner.run({graph.inputs[0].name: x})[graph.outputs[0].name]
                worst = max(worst, float(np.abs(got - ref).max()) / scale)
            # fp16 weights: the bound, or twice what rounding the source's own weights to fp16
            # moves the logits, whichever is larger (a calibrated deep net amplifies the rounding)
            bound = max(TOL[mode], 2 * own, floor)
            # another input (batch 2's first row against batch 1's) moves the logits by:
            moves = float(np.abs(refs[1][:1] - refs[0]).max()) / max(1.0, float(np.abs(refs[0]).max()))
            row.update(err=worst, bound=bound, ok=worst <= bound, moves=moves)
            path.unlink()
        except Exception as e:  # noqa: BLE001  (a row per model, whatever fails)
            row["error"] = (str(e).strip().splitlines() or [type(e).__name__])[0][:150]
            if "--debug" in sys.argv:
                traceback.print_exc()
        rows.append(row)
    return rows


# keras.applications CI set (tests/test_keras_applications.py's sizes): the smallest input
# each accepts, EfficientNet at 64 px (its BatchNorm is chaotic at 32)
KERAS_APPS = {"Xception": 71, "VGG16": 32, "ResNet50": 32, "ResNet50V2": 32, "InceptionV3": 75, "MobileNet": 32,
              "MobileNetV2": 32, "MobileNetV3Small": 32, "DenseNet121": 32, "NASNetMobile": 32, "EfficientNetB0": 64,
              "EfficientNetV2B0": 64, "ConvNeXtTiny": 32}
# The source's own float32 logits are further from float64 than the fp32 bound once BatchNorm
# is calibrated at the run size (InceptionV3 at 75 px, as in tests/test_keras_applications.py;
# torchvision's inception_v3 and wide_resnet50_2): the reference is the source in float64,
# and the bound at least twice the source's own float32 error
FLOAT64_REFERENCE = {"InceptionV3", "inception_v3", "wide_resnet50_2"}


def one_keras(name: str, work: Path) -> list[dict]:
    """The fp32 and fp16 rows of one keras.applications model: built with logits and
    trained-like weights (``tests/keras_signal.py``), saved as ``.keras`` and converted from
    that file; references from Keras."""
    import gc

    import keras

    import convert
    from convert.api import prepare
    from keras_signal import give_signal

    size = KERAS_APPS[name]
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classifier_activation=None)
    give_signal(model, _keras_x(16, size, 0))
    path = work / f"{name}.keras"
    model.save(path)
    xs = [_keras_x(b, size, 10 + b) for b in (1, 2)]
    refs = [np.asarray(model(x, training=False)) for x in xs]
    floor = 0.0
    if name in FLOAT64_REFERENCE:
        refs64 = _float64_outputs(keras, name, size, model, xs)
        floor = max(2 * float(np.abs(r - r64).max()) / max(1.0, float(np.abs(r64).max())) for r, r64 in zip(refs, refs64))
        refs = refs64
    model.set_weights([w.astype(np.float16).astype(w.dtype) if w.dtype.kind == "f" else w for w in model.get_weights()])
    halves = [np.asarray(model(x, training=False)) for x in xs]
    del model
    keras.backend.clear_session()
    gc.collect()
    t0 = time.perf_counter()
    graph, _ = prepare(convert.from_keras(path))
    imported = time.perf_counter() - t0
    path.unlink()
    return through_tflite(name, size, graph, xs, refs, halves, work, imported, floor)


def _float64_outputs(keras, name: str, size: int, model, xs: list) -> list:
    from keras_signal import refresh_normalization

    keras.config.set_dtype_policy("float64")
    try:
        m64 = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classifier_activation=None)
    finally:
        keras.config.set_dtype_policy("float32")
    m64.set_weights([w.astype(np.float64) for w in model.get_weights()])
    refresh_normalization(m64)
    return [np.asarray(m64(x.astype(np.float64), training=False)).astype(np.float32) for x in xs]


def _keras_x(batch: int, size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, size, size, 3)).astype("float32") * 50.0


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

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=None, help="default: the whole corpus")
    ap.add_argument("--keras", action="store_true", help="the keras.applications CI set, from .keras files")
    ap.add_argument("--out", default=None)
    ap.add_argument("--debug", action="store_true")
    ap.add_argument("--pt2", action="store_true", help="import from a dynamic-batch .pt2, not the live module")
    args = ap.parse_args()
    if args.keras:
        sizes = KERAS_APPS
    else:
        import torchvision_zoo as zoo

        sizes = {k: v[1] for k, v in zoo.MODELS.items()}
    models = args.models.split(",") if args.models else list(sizes)
    out = args.out or str(BENCH / ("results_tflite_keras.md" if args.keras else "results_tflite_corpus.md"))
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in models:
            try:
                rows += one_keras(name, Path(work)) if args.keras else one(name, Path(work), pt2=args.pt2)
            except Exception as e:  # noqa: BLE001  (the model itself failed to build or import)
                if args.debug:
                    traceback.print_exc()
                rows.append({"model": name, "mode": "-", "size": sizes[name],
                             "error": "import: " + (str(e).strip().splitlines() or [type(e).__name__])[0][:140]})
            print(table(rows[-2:]).splitlines()[-1], flush=True)
    text = table(rows)
    title = "keras.applications -> .tflite (LiteRT interpreter vs Keras)" if args.keras else \
        "torchvision corpus -> .tflite (LiteRT interpreter vs torch)"
    Path(out).write_text(f"# {title}\n\n{text}\n")
    print(text)


if __name__ == "__main__":
    main()
