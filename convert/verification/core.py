"""Run two sides on the same inputs and compare every output."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import CannotVerifyError, UsageError
from ..ir.graph import Graph
from .inputs import InputSet, input_plan
from .metrics import OutputMetrics, compare, default_tolerance
from .report import RunResult

Run = Callable[[dict], dict]


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"


def _call(side: str, run: Run, inputs: dict) -> dict:
    try:
        out = run({k: np.array(v, copy=True) for k, v in inputs.items()})
    except (CannotVerifyError, UsageError):  # already one clear line (e.g. an unsupported Keras backend)
        raise
    except ModuleNotFoundError as e:  # conversion needs no framework; running a side does
        top = (e.name or "").split(".")[0]
        extra = top if top in ("torch", "keras", "tensorflow") else "all"
        raise CannotVerifyError(f"{side} failed to run: {top or e} is not installed; verification runs the model "
                                f"in its framework (pip install 'nnconvert[{extra}]')") from e
    except Exception as e:  # noqa: BLE001  (any framework error becomes one clear message)
        raise CannotVerifyError(f"{side} failed to run: {_first_line(e)}") from e
    return out


def compare_runs(graph: Graph, expected_run: Run, actual_run: Run, *, samples: int = 1, seed: int = 0,
                 input_shapes: dict | None = None, inputs: list[InputSet] | None = None,
                 rtol: float | None = None, atol: float | None = None, device: str = "cpu",
                 progress: Callable[[int, int], None] | None = None, computed: str | None = None
                 ) -> list[RunResult]:
    """Run both sides on every input set. The source failing, or the target failing on
    the first set, means the pair cannot be verified (CannotVerifyError); the target
    failing on a later set (say, the second batch size) is a mismatch, kept in the run."""
    plan = inputs if inputs is not None else input_plan(graph, samples, seed, input_shapes)
    results = []
    for i, inp in enumerate(plan):
        want = _call("source", expected_run, inp.arrays)
        try:
            got = _call("target", actual_run, inp.arrays)
        except CannotVerifyError as e:
            if i == 0:
                raise
            results.append(RunResult(inp.seed, inp.shapes, [], error=str(e).removeprefix("target failed to run: ")))
        else:
            results.append(RunResult(inp.seed, inp.shapes, _compare_outputs(graph, want, got, rtol, atol, device,
                                                                                 computed)))
        if progress:
            progress(i + 1, len(plan))
    return results


def tolerance_for(dtype: str, rtol: float | None, atol: float | None, device: str) -> tuple[float, float, str]:
    """The (rtol, atol) to use and where they came from."""
    r0, a0 = default_tolerance(dtype, device)
    given = [n for n, v in (("rtol", rtol), ("atol", atol)) if v is not None]
    origin = f"default {dtype} {device}" if not given else (
        "given" if len(given) == 2 else f"{given[0]} given, other default {dtype} {device}")
    return (r0 if rtol is None else rtol), (a0 if atol is None else atol), origin


def compare_one(name: str, got, want, rtol, atol, device, computed: str | None = None) -> OutputMetrics:
    """``computed``: the dtype the target computed in where it is below the source's
    (``--precision fp16/bf16``): its default tolerance applies, atol relative to the
    output's scale (max |source|), since half precision errors grow with the magnitudes."""
    exp = np.asarray(want)
    half = computed is not None and computed != str(exp.dtype) and exp.dtype.kind == "f"
    r, a, origin = tolerance_for(computed if half else str(exp.dtype), rtol, atol, device)
    if half and atol is None:
        scale = float(np.max(np.abs(exp))) if exp.size and np.isfinite(exp).all() else 1.0
        a *= scale if scale > 0 else 1.0
        origin += f" computation, atol relative to output scale {scale:.3g}"
    m = compare(name, got, exp, r, a)
    m.tolerance_from = origin
    return m


def _compare_outputs(graph: Graph, want: dict, got: dict, rtol, atol, device, computed: str | None = None
                     ) -> list:
    metrics = []
    names = [v.name for v in graph.outputs if v.name in want] or sorted(want)
    for name in names:
        if name not in got:
            raise CannotVerifyError(f"target has no output named {name!r} (it has {sorted(got)})")
        metrics.append(compare_one(name, got[name], want[name], rtol, atol, device, computed))
    return metrics


def reference_inputs(graph: Graph, reference: dict) -> dict:
    missing = [v.name for v in graph.inputs if v.name not in reference]
    if missing:
        raise CannotVerifyError(f"the reference file lacks input array(s) {missing}")
    return {v.name: np.asarray(reference[v.name]).astype(v.dtype if v.dtype != "bfloat16" else "float32")
            for v in graph.inputs}


def compare_reference(graph: Graph, reference: dict, actual_run: Run, *, rtol=None, atol=None,
                      device: str = "cpu", computed: str | None = None) -> list[RunResult]:
    """Compare against recorded arrays: inputs and expected outputs keyed by name."""
    inputs = reference_inputs(graph, reference)
    expected = {v.name: reference[v.name] for v in graph.outputs if v.name in reference}
    if not expected:
        raise CannotVerifyError(f"the reference file has none of the outputs {[v.name for v in graph.outputs]}")
    got = _call("target", actual_run, inputs)
    return [RunResult(None, {k: list(v.shape) for k, v in inputs.items()},
                      _compare_outputs(graph, expected, got, rtol, atol, device, computed))]
