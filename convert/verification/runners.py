"""Run a written model file in its own framework by reading it back with nnconvert's
importer for that format: the fallback for formats without a dedicated runner.

The file's interface is matched to the source graph's by position (a re-imported file
names its inputs and outputs its own way), and must have as many of each.
"""
from __future__ import annotations

from typing import Callable

from ..errors import CannotVerifyError
from ..ir.graph import Graph

Run = Callable[[dict], dict]


def reimport_runner(fmt, path: str, graph: Graph) -> Run:
    from ..formats import resolve

    if not fmt.reader:
        raise CannotVerifyError(f"nnconvert cannot run {fmt.name} files")
    loaded = resolve(fmt.reader)(str(path))
    if loaded.run is None:
        raise CannotVerifyError(f"no {fmt.name} runtime here to run {path}")
    tin, tout = [v.name for v in loaded.graph.inputs], [v.name for v in loaded.graph.outputs]
    sin, sout = [v.name for v in graph.inputs], [v.name for v in graph.outputs]
    if len(tin) != len(sin) or len(tout) != len(sout):
        raise CannotVerifyError(f"{path} has {len(tin)} input(s) and {len(tout)} output(s); the source has "
                                f"{len(sin)} and {len(sout)}")

    def run(inputs: dict) -> dict:
        got = loaded.run({t: inputs[s] for s, t in zip(sin, tin)})
        return {s: got[t] for s, t in zip(sout, tout)}

    run.providers = [f"{fmt.name} ({loaded.framework_version or 'CPU'})"]  # type: ignore[attr-defined]
    run.graph = loaded.graph  # type: ignore[attr-defined]  # what the file holds (its weights' dtypes)
    return run
