"""The typed Python API; the CLI is a thin shell over these functions."""
from __future__ import annotations

import inspect
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import (CannotVerifyError, ModelLoadError, NNConvertError, UnsupportedError, UsageError,
                     VerificationError)
from .formats import Format, detect, resolve
from .files import atomic_output, check_free, check_target
from .ir.graph import Graph
from .loaded import LoadedModel
from .passes import optimize as run_passes
from .passes.fuse_activation import enabled, report
from .runtime.evaluate import evaluate_node

log = logging.getLogger(__name__)


@dataclass
class ConvertResult:
    files: list[Path]
    graph: Graph
    source_format: str
    target_format: str
    passes: list[tuple[str, list[str]]] = field(default_factory=list)
    report: "object | None" = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def __repr__(self) -> str:  # short: the graph's weights are not for printing
        verdict = "" if self.report is None else f", verification {'PASS' if self.report.ok else 'FAIL'}"
        return (f"<ConvertResult {self.source_format} -> {self.target_format}: "
                f"{', '.join(str(f) for f in self.files)} ({len(self.graph.nodes)} nodes{verdict}, "
                f"{self.seconds:.2f} s)>")


def load_model(path: str, fmt: str | None = None, **options) -> LoadedModel:
    """Import a model file into the IR (``options`` are the reader's: weights=,
    trust_pickle=, io_layout=, input_shapes=, allow_missing_weights=)."""
    f = detect(str(path), fmt, reading=True)
    if not f.reader:
        raise UsageError(f"nnconvert cannot read {f.name} files")
    src = str(path).rsplit(":", 1)[0] if ".py:" in str(path) else str(path)
    if not Path(src).exists():
        raise ModelLoadError(src, "no such file")
    reader = resolve(f.reader)
    try:
        loaded = reader(str(path), **options)
    except NNConvertError:
        raise
    except RecursionError:
        raise ModelLoadError(src, "the model description nests too deeply (corrupted or hostile file?)") from None
    except MemoryError:
        raise ModelLoadError(src, "reading it needs more memory than is available (absurd sizes declared in "
                                  "the file?)") from None
    except Exception as e:  # noqa: BLE001  (a file the reader did not expect: one line naming the file)
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ModelLoadError(src, f"cannot read it as {f.name}: {type(e).__name__}: {first} "
                                  f"(corrupted, truncated or not a {f.name} model?)") from e
    if not loaded.graph.outputs:
        raise ModelLoadError(src, f"holds no {f.name} layers producing an output (empty, truncated or not a "
                                  f"{f.name} model?)")
    loaded.warnings.extend(nonfinite_warnings(loaded.graph))
    return loaded


def nonfinite_warnings(graph: Graph) -> list[str]:
    """One warning per weight holding NaN or Inf: such models convert (they may be
    intended, e.g. -inf masks) but usually mean a corrupted or diverged checkpoint."""
    out = []
    for name in sorted(graph.weights):
        arr = graph.weights[name]
        if arr.dtype.kind != "f" or arr.size == 0:
            continue
        finite = np.isfinite(arr)
        if not finite.all():
            nan = int(np.isnan(arr).sum())
            inf = int(arr.size - finite.sum()) - nan
            out.append(f"weight {name!r} holds {nan} NaN and {inf} Inf value(s) of {arr.size}")
    return out


def unsupported_by_target(graph: Graph, fmt: Format, **options) -> None:
    """The pre-flight check (``nnconvert check``; ``convert`` runs it before writing):
    raise UnsupportedError listing everything ``fmt``'s writer cannot express."""
    if fmt.unsupported:
        check = resolve(fmt.unsupported)
        problems = check(graph, **_accepted(check, options))
        if problems:
            raise UnsupportedError(problems, f"{fmt.name} export")


def _accepted(fn, options: dict) -> dict:
    """The writer options ``fn`` takes (a format-specific flag such as --opset must not
    break another format's check)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return options
    return {k: v for k, v in options.items() if k in params}


# Passes that fold layers away: right for inference, wrong for a model to fine-tune
# (BatchNorm and Dropout must stay layers). Skipped for torch-source unless asked otherwise.
TRAINING_SKIPS = ("remove-identity", "fold-batchnorm", "fold-affine")


def for_target(fmt: Format, disable_passes=(), for_training: bool | None = None) -> tuple:
    """The passes to skip for ``fmt``: ``for_training`` (default: only for torch-source,
    editable code for fine-tuning) keeps BatchNorm and Dropout as layers."""
    if for_training is None:
        for_training = fmt.name == "torch-source"
    return tuple(dict.fromkeys([*disable_passes, *(TRAINING_SKIPS if for_training else ())]))


def optimize_graph(graph: Graph, disable=(), report: list | None = None, in_place: bool = False) -> Graph:
    """``convert.optimize``: the optimisation passes (``convert.passes``) on a copy of
    ``graph`` (on ``graph`` itself with ``in_place``), constant folding evaluating nodes
    in onnxruntime."""
    return run_passes(graph, disable=disable, report=report, evaluate=evaluate_node, in_place=in_place)


def prepare(graph: Graph, optimize: bool = True, disable_passes=(), in_place: bool = False) -> tuple[Graph, list]:
    changes: list = []
    if not optimize:
        return graph, changes
    return optimize_graph(graph, disable=disable_passes, report=changes, in_place=in_place), changes


def writer_passes(optimize: bool = True, disable_passes=()) -> dict:
    """Writer options switching the passes a writer applies itself (fuse-activation)."""
    return enabled(optimize, disable_passes)


def check_precision(fmt: Format, precision: str | None) -> None:
    """Refuse, before anything is read or written, a --precision the target cannot take."""
    from .flags import flag
    from .passes.precision import PRECISIONS

    if precision in (None, "fp32") or (fmt.name == "tflite" and precision == "fp16"):
        return
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    if not fmt.half:
        raise UsageError(f"{flag('precision', precision)} applies to the onnx, torch and torch-source targets; "
                         f"{fmt.name} files stay float32 (tflite has its own fp16 weight storage and "
                         f"{flag('quantize', 'int8')})")


def with_precision(graph: Graph, fmt: Format, precision: str | None, changes: list | None = None) -> Graph:
    """``graph`` computing in ``precision`` for ``fmt`` (convert.passes.precision); fp32 and
    tflite (whose writer stores fp16 weights itself) pass through."""
    check_precision(fmt, precision)
    if precision in (None, "fp32") or not fmt.half:
        return graph
    from .ir.validate import validate
    from .passes.precision import to_precision
    from .runtime.shapes import value_dtypes

    out, done = to_precision(graph, precision, value_dtypes(graph), resolve(fmt.half))
    validate(out)
    if changes is not None:
        changes.append(("precision", done))
    return out


def preflight(graph: Graph, fmt: Format, optimize: bool = True, disable_passes=(), in_place: bool = False,
              **options) -> tuple[Graph, list]:
    """The pre-flight check: optimise as the writer's input would be, then list (raise)
    everything ``fmt`` cannot express. Checking the optimised graph avoids false alarms
    (a constant subgraph a target cannot express is folded away before writing)."""
    graph, changes = prepare(graph, optimize, disable_passes, in_place)
    unsupported_by_target(graph, fmt, **options)
    if writer_passes(optimize, disable_passes)["fuse_activations"]:
        changes.append(("fuse-activation", report(graph, resolve(fmt.fuses) if fmt.fuses else None)))
    return graph, changes


def check_model(source: str, fmt: Format, from_fmt: str | None = None, reader_options: dict | None = None,
                optimize: bool = True, disable_passes=(), writer_options: dict | None = None
                ) -> tuple[list[tuple[str, list]], LoadedModel | None]:
    """The pre-flight check: ([(stage, unsupported items)], loaded model or None). Where the
    importer can bridge what it cannot read (Keras, Caffe, PyTorch), the exporter is checked
    on the rest, so both lists come at once; otherwise importer gaps alone are listed."""
    ropts = reader_options or {}
    disable_passes = for_target(fmt, disable_passes)
    try:
        loaded = load_model(source, from_fmt, bridge=True, **ropts)
    except UnsupportedError as e:  # an importer that cannot bridge lists its own gaps
        return [(e.where, e.items)], None
    except NNConvertError:  # bridging went wrong: the strict import's error is the one to show
        try:
            loaded = load_model(source, from_fmt, **ropts)
        except UnsupportedError as e:
            return [(e.where, e.items)], None
    sections = []
    if loaded.gaps:
        sections.append((f"{loaded.format} import", list(loaded.gaps)))
    try:
        preflight(loaded.graph, fmt, optimize, disable_passes, **(writer_options or {}))
    except UnsupportedError as e:
        sections.append((e.where, e.items))
    return sections, loaded


def export(graph: Graph, path: str | Path, fmt: str | None = None, *, force: bool = False, optimize: bool = True,
           disable_passes=(), for_training: bool | None = None, precision: str = "fp32", **options) -> list[Path]:
    """Write ``graph`` to ``path`` atomically (nothing is left behind on failure).
    ``for_training`` keeps BatchNorm/Dropout as layers (default: for torch-source only);
    ``precision`` "fp16"/"bf16" writes half-precision weights and compute (onnx, torch)."""
    f = detect(str(path), fmt, reading=False)
    check_precision(f, precision)
    disable_passes = for_target(f, disable_passes, for_training)
    graph, _ = preflight(graph, f, optimize, disable_passes, **options)
    graph = with_precision(graph, f, precision)
    if f.name == "tflite" and precision == "fp16":
        options["precision"] = precision
    with atomic_output(path, force, f.folder) as tmp:
        resolve(f.writer)(graph, tmp, **{**writer_passes(optimize, disable_passes), **options})
        written = sorted(p.name for p in tmp.parent.iterdir())
    return [Path(path).parent / n for n in written]


def convert_file(source: str, target: str, *, from_fmt: str | None = None, to_fmt: str | None = None,
                 reader_options: dict | None = None, writer_options: dict | None = None, force: bool = False,
                 optimize: bool = True, disable_passes=(), verify: bool = False, verify_options: dict | None = None,
                 step: Callable[[str], None] | None = None, for_training: bool | None = None,
                 progress: Callable[[int, int], None] | None = None, precision: str = "fp32") -> ConvertResult:
    """Import ``source``, optimise, export to ``target`` and optionally verify the written
    file in its own runtime against the source. On a verification mismatch nothing is
    written and VerificationError (exit 1) carries the report. ``progress(done, total)``
    follows the writing (every writer: per weight, layer or tensor written). ``precision``
    "fp16"/"bf16": half-precision weights and compute for onnx and torch targets (float32
    inputs and outputs), verified against the float32 source at that precision's tolerance."""
    t0 = time.perf_counter()
    step = step or (lambda s: None)
    fin = detect(source, from_fmt, reading=True)
    fout = detect(target, to_fmt, reading=False)
    check_target(target, fout.folder)
    check_free([Path(target)], force)
    check_precision(fout, precision)
    disable_passes = for_target(fout, disable_passes, for_training)
    step(f"reading {fin.name} model")
    loaded = load_model(source, fin.name, **(reader_options or {}))
    wopts = dict(writer_options or {})
    if fout.name == "tflite" and precision == "fp16":  # its writer stores fp16 weights itself
        wopts["precision"] = precision
    step("optimising")
    # Verification runs the source's own graph; otherwise the passes work on it in place,
    # so weights they replace (BatchNorm folding) are freed rather than held twice.
    graph, changes = preflight(loaded.graph, fout, optimize, disable_passes, in_place=not verify, **wopts)
    graph = with_precision(graph, fout, precision, changes)
    step(f"writing {fout.name}")
    report = None
    with atomic_output(target, force, fout.folder) as tmp:
        writer = resolve(fout.writer)
        writer(graph, tmp, **{**writer_passes(optimize, disable_passes), **wopts, "progress": progress})
        if verify:
            step("verifying")
            report = verify_loaded(loaded, tmp, fout, source_label=source, target_label=target,
                                   **{"precision": precision if fout.half else "fp32",
                                      "precision_from": "the conversion's precision", **(verify_options or {})})
            if not report.ok:
                err = VerificationError(f"verification failed: {target} does not match {source}; nothing written")
                err.report = report  # type: ignore[attr-defined]
                raise err
        written = sorted(p.name for p in tmp.parent.iterdir())
    files = [Path(target).parent / n for n in written]
    return ConvertResult(files, graph, fin.name, fout.name, changes, report, time.perf_counter() - t0,
                         warnings=list(loaded.warnings))


def _target_runner(fmt: Format, path: Path, device: str, graph: Graph | None = None):
    runner = None
    if fmt.runner:
        try:
            runner = resolve(fmt.runner)
        except AttributeError:  # the format's module has no dedicated runner
            runner = None
    if runner is not None:
        return runner(str(path), device=device, graph=graph)
    if graph is not None and fmt.reader:
        if device != "cpu":
            raise CannotVerifyError(f"--device {device} applies to ONNX targets; {fmt.name} files run on the CPU")
        from .verification.runners import reimport_runner

        return reimport_runner(fmt, str(path), graph)
    raise CannotVerifyError(f"nnconvert cannot run {fmt.name} files")


def verify_loaded(loaded: LoadedModel, target_path: str | Path, target_fmt: Format, *, samples: int = 1,
                  seed: int = 0, input_shapes: dict | None = None, inputs: dict | None = None,
                  reference: str | dict | None = None, rtol: float | None = None, atol: float | None = None,
                  device: str = "cpu", source_label: str = "", target_label: str = "",
                  per_layer: bool = False, artifacts: str | Path | None = None,
                  progress: Callable[[int, int], None] | None = None, precision: str | None = None,
                  precision_from: str | None = None):
    """Run ``loaded`` (or compare its recorded ``reference`` arrays) against the file at
    ``target_path``. ``per_layer`` also compares every intermediate value both sides
    expose and names the first diverging layer; its repro and plot go to ``artifacts``.
    ``precision``: what the target computes in (fp16/bf16 compare at those tolerances,
    atol relative to each output's scale); None reads it from the file (its metadata or
    its weights' dtype), and a given one the file contradicts is a UsageError unless
    ``precision_from`` says who set it."""
    from .verification.core import compare_reference, compare_runs, reference_inputs
    from .verification.inputs import InputSet, input_plan
    from .verification.report import VerifyReport, environment

    run_target = _target_runner(target_fmt, Path(target_path), device, loaded.graph)
    lower = getattr(run_target, "tolerance", None)  # a file storing weights below fp32 (tflite fp16/int8)
    if lower is not None:
        rtol, atol = (lower[0] if rtol is None else rtol), (lower[1] if atol is None else atol)
    check_interface(loaded.graph, getattr(run_target, "input_shapes", None), str(target_label or target_path),
                    inputs)
    from .verification.precision import resolve_precision

    precision, precision_from = resolve_precision(target_fmt, target_path, run_target, precision, precision_from)
    report = VerifyReport(source=source_label or (loaded.path or loaded.format),
                          target=target_label or str(target_path), device=device,
                          providers=list(getattr(run_target, "providers", [target_fmt.name])),
                          environment=environment(loaded.format, loaded.framework_version), precision=precision,
                          precision_from=precision_from)
    from .passes.precision import PRECISIONS

    computed = PRECISIONS.get(precision)
    if getattr(run_target, "note", None):
        report.notes.append(run_target.note)
    ref = None
    if reference is not None:
        ref = dict(np.load(reference)) if isinstance(reference, (str, Path)) else dict(reference)
        report.runs = compare_reference(loaded.graph, ref, run_target, rtol=rtol, atol=atol, device=device,
                                        computed=computed)
        report.notes.append(f"compared against recorded arrays in {reference if isinstance(reference, (str, Path)) else 'memory'}")
        layer_inputs = reference_inputs(loaded.graph, ref)
    else:
        if loaded.run is None:
            raise CannotVerifyError(f"cannot verify: no {loaded.format} runtime here to run the source; "
                                    "pass --reference FILE.npz with recorded inputs and outputs")
        plan = [InputSet(seed, inputs)] if inputs else input_plan(loaded.graph, samples, seed, input_shapes)
        report.runs = compare_runs(loaded.graph, loaded.run, run_target, inputs=plan, rtol=rtol, atol=atol,
                                   device=device, progress=progress, computed=computed)
        report.layer_run = next((i for i, r in enumerate(report.runs) if not r.ok), 0)
        layer_inputs = plan[report.layer_run].arrays
    if per_layer:
        from .verification.per_layer import run_per_layer

        run_per_layer(report, loaded, target_fmt.name, target_path, layer_inputs, reference=ref, rtol=rtol,
                      atol=atol, device=device, out_dir=artifacts, run_target=run_target, computed=computed)
    return report


def check_interface(graph: Graph, target_shapes: list | None, target: str, inputs: dict | None = None) -> None:
    """Usage errors a framework would report cryptically: input arrays under names the
    model does not have, and a target converted with the other --io-layout."""
    names = [v.name for v in graph.inputs]
    if inputs:
        unknown, missing = sorted(set(inputs) - set(names)), [n for n in names if n not in inputs]
        if unknown or missing:
            raise UsageError(f"the model's inputs are {names}; " + "; ".join(
                part for part in (f"no input is named {unknown}" if unknown else "",
                                  f"no array given for {missing}" if missing else "") if part))
    for v, t in zip(graph.inputs, target_shapes or []):
        moved = _moved_channels(list(v.shape or ()), list(t))
        if moved:
            from .flags import flag

            raise UsageError(f"{target} takes input {v.name!r} {moved} as {_dims(t)}, the source gives {_dims(v.shape)}: "
                             f"they were converted with different layouts; verify with "
                             f"{flag('io_layout', 'nchw' if moved == 'channels-first' else 'nhwc')}, the layout "
                             "the target was converted with")


def _dims(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def _moved_channels(src: list, tgt: list) -> str:
    """'channels-first'/'channels-last' when ``tgt`` is ``src`` with the channel axis
    moved (static sizes compared), '' when they agree or differ otherwise."""
    def fits(a: list, b: list) -> bool:
        return len(a) == len(b) and all(x == y for x, y in zip(a, b)
                                        if isinstance(x, int) and isinstance(y, int) and x > 0 and y > 0)

    if len(src) < 3 or fits(src, tgt):
        return ""
    if fits([src[0], src[-1], *src[1:-1]], tgt):
        return "channels-first"
    if fits([src[0], *src[2:], src[1]], tgt):
        return "channels-last"
    return ""


def verify(source: str, target: str, *, from_fmt: str | None = None, to_fmt: str | None = None,
           reader_options: dict | None = None, **verify_options):
    """Compare ``target`` (any format nnconvert can run) with ``source``; returns a
    VerifyReport whose ``.ok`` is the verdict."""
    loaded = load_model(source, from_fmt, **(reader_options or {}))
    tf = detect(target, to_fmt, reading=False)
    if not Path(target.rsplit(":", 1)[0] if ".py:" in target else target).exists():
        raise ModelLoadError(target, "no such file")
    return verify_loaded(loaded, target, tf, source_label=source, target_label=target, **verify_options)
