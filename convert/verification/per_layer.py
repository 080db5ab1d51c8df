"""``--per-layer``: collect intermediate values from both sides, compare them in graph
order, and for the first diverging layer write a repro and draw error against depth."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np

from ..exporters.onnx import to_onnx
from ..ir.serialize import load as load_graph
from ..loaded import LoadedModel
from ..runtime.session import layers_runner
from .layers import candidate_values, compare_layers, first_divergence
from .report import VerifyReport

log = logging.getLogger(__name__)

RunLayers = Callable[[dict, list], dict]


def source_layers(loaded: LoadedModel, inputs: dict, names: list[str],
                  reference: dict | None = None) -> tuple[dict, str]:
    """The source's intermediate values keyed by IR value name, and where they came from."""
    if reference is not None:
        return {k: np.asarray(v) for k, v in reference.items() if k in names or k in inputs}, "recorded arrays"
    if loaded.reference is not None:
        return {k: np.asarray(v) for k, v in loaded.reference.items()}, "arrays recorded with the model"
    if loaded.run_layers is not None:
        got = dict(loaded.run_layers(dict(inputs), list(names)))
        missing = [v.name for v in loaded.graph.outputs if v.name not in got]
        if missing and loaded.run is not None:
            got.update({k: v for k, v in loaded.run(dict(inputs)).items() if k in missing})
        return {**inputs, **got}, f"{loaded.format} intermediate outputs"
    if loaded.format == "nnir":
        # The IR is the source itself: run it, unoptimised, with every value as an output.
        run = layers_runner(to_onnx(loaded.graph).SerializeToString())
        return {**inputs, **run(inputs, names)}, "the IR run in onnxruntime (CPU)"
    return {}, ""


def target_layers(fmt_name: str, path: str | Path, device: str, run_target=None) -> RunLayers | None:
    """run_layers for the written file, when its format can expose intermediate values."""
    if fmt_name == "onnx":
        return layers_runner(str(path), device)
    if fmt_name == "nnir":
        return layers_runner(to_onnx(load_graph(str(path))).SerializeToString(), device)
    if fmt_name == "torch" and str(path).endswith(".pt2"):
        from .torch_layers import pt2_layers

        return pt2_layers(path)
    return getattr(run_target, "layers", None)


def run_per_layer(report: VerifyReport, loaded: LoadedModel, fmt_name: str, target_path: str | Path,
                  inputs: dict, *, reference: dict | None = None, rtol=None, atol=None, device: str = "cpu",
                  out_dir: str | Path | None = None, run_target=None, computed: str | None = None) -> None:
    """Fill ``report.layers``, ``first_divergence``, ``repro`` and ``plot``. ``computed``: the
    dtype a half-precision target computes in (its tolerances apply to every layer)."""
    graph = loaded.graph
    names = candidate_values(graph)
    src, how = source_layers(loaded, inputs, names, reference)
    if not src:
        report.notes.append(f"per-layer comparison skipped: the {loaded.format} source exposes no intermediate "
                            "values here (pass --reference with recorded arrays keyed by IR value name)")
        return
    tgt_run = target_layers(fmt_name, target_path, device, run_target)
    if tgt_run is None:
        report.notes.append(f"per-layer comparison skipped: nnconvert cannot read intermediate values of "
                            f"{fmt_name} files; verify the ONNX export per layer instead")
        return
    wanted = [n for n in names if n in src]
    tgt = {**inputs, **tgt_run(dict(inputs), wanted)}
    report.layers = compare_layers(graph, src, tgt, rtol=rtol, atol=atol, device=device, computed=computed)
    skipped = len(set(names)) - len(report.layers)
    report.notes.append(f"per layer: {len(report.layers)} of {len(set(names))} IR value(s) compared ({how} vs the "
                        f"target); the {skipped} other(s) exist on one side only (fused, in place, or not exposed) "
                        "and are covered by the next compared value")
    report.first_divergence = first_divergence(report.layers)
    if out_dir is None:
        return
    out = Path(out_dir)
    model = getattr(tgt_run, "model", None)
    if report.first_divergence is not None:
        if model is None:
            report.notes.append("no repro: the target is not an ONNX model")
        else:
            from .repro import write_repro

            entry, note = write_repro(model, report.first_divergence.value, src, tgt, out, device)
            report.repro = entry
            report.notes.append(note)
    from .plot import matplotlib_available, plot_layers

    if not report.layers:
        return
    if matplotlib_available():
        report.plot = plot_layers(report.layers, out / "error_by_depth.png",
                                  f"{Path(report.source).name} vs {Path(report.target).name}: max abs error by depth")
    else:
        report.notes.append("no plot: matplotlib is not installed (pip install 'nnconvert[report]')")
