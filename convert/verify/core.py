"""Run two sides on the same inputs and compare every output."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import CannotVerifyError
from ..ir.graph import Graph
from .inputs import InputSet, input_plan
from .metrics import compare, default_tolerance
from .report import RunResult, VerifyReport

Run = Callable[[dict], dict]


def _call(side: str, run: Run, inputs: dict) -> dict:
    try:
        out = run({k: np.array(v, copy=True) for k, v in inputs.items()})
    except CannotVerifyError:
        raise
    except Exception as e:  # a framework failing on these inputs is a verdict, not a crash
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CannotVerifyError(f"{side} failed to run: {type(e).__name__}: {msg}") from e
    return out


def compare_runs(graph: Graph, expected_run: Run, actual_run: Run, *, samples: int = 1, seed: int = 0,
                 input_shapes: dict | None = None, inputs: list[InputSet] | None = None,
                 rtol: float | None = None, atol: float | None = None, device: str = "cpu",
                 progress: Callable[[int, int], None] | None = None) -> list[RunResult]:
    plan = inputs if inputs is not None else input_plan(graph, samples, seed, input_shapes)
    results = []
    for i, inp in enumerate(plan):
        want = _call("source", expected_run, inp.arrays)
        got = _call("target", actual_run, inp.arrays)
        results.append(RunResult(inp.seed, inp.shapes, _compare_outputs(graph, want, got, rtol, atol, device)))
        if progress:
            progress(i + 1, len(plan))
    return results


def _compare_outputs(graph: Graph, want: dict, got: dict, rtol, atol, device) -> list:
    metrics = []
    names = [v.name for v in graph.outputs if v.name in want] or sorted(want)
    for name in names:
        if name not in got:
            raise CannotVerifyError(f"target has no output named {name!r} (it has {sorted(got)})")
        exp = np.asarray(want[name])
        r0, a0 = default_tolerance(str(exp.dtype), device)
        metrics.append(compare(name, got[name], exp, r0 if rtol is None else rtol, a0 if atol is None else atol))
    return metrics


def compare_reference(graph: Graph, reference: dict, actual_run: Run, *, rtol=None, atol=None,
                      device: str = "cpu") -> list[RunResult]:
    """Compare against recorded arrays: inputs and expected outputs keyed by name."""
    missing = [v.name for v in graph.inputs if v.name not in reference]
    if missing:
        raise CannotVerifyError(f"the reference file lacks input array(s) {missing}")
    inputs = {v.name: np.asarray(reference[v.name]).astype(v.dtype if v.dtype != "bfloat16" else "float32")
              for v in graph.inputs}
    expected = {v.name: reference[v.name] for v in graph.outputs if v.name in reference}
    if not expected:
        raise CannotVerifyError(f"the reference file has none of the outputs {[v.name for v in graph.outputs]}")
    got = _call("target", actual_run, inputs)
    return [RunResult(None, {k: list(v.shape) for k, v in inputs.items()},
                      _compare_outputs(graph, expected, got, rtol, atol, device))]


def new_report(source: str, target: str, device: str, providers: list[str], env: dict) -> VerifyReport:
    return VerifyReport(source=source, target=target, device=device, providers=providers, environment=env)
