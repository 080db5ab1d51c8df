"""Intermediate values of a ``.pt2`` file nnconvert wrote, keyed by IR value name.

The torch exporter generates ``forward()`` as one assignment per IR node, to a variable
named after the node's output value (``conv1 = self.conv1(x)``), and torch.export keeps
each ATen node's stack trace, whose frame in the generated file shows that line. So the
last ATen node computed on the line assigning ``conv1`` holds IR value ``conv1``."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

GENERATED_FILE = "<nnconvert_generated>"
_FRAME = re.compile(r'File "' + re.escape(GENERATED_FILE) + r'", line \d+, in forward\n\s*([A-Za-z_][A-Za-z0-9_]*) = ')


def assigned_variable(stack_trace: str | None) -> str | None:
    """The variable the generated forward() line of this stack trace assigns (one target only)."""
    hits = _FRAME.findall(stack_trace or "")
    return hits[-1] if hits else None


def pt2_layers(path: str | Path) -> Callable[[dict, list], dict] | None:
    """run_layers for a .pt2 file (loaded without unpickling anything), or None when it was
    not written by nnconvert (no generated lines in its stack traces)."""
    from ..exporters.torch.context import identifier
    from ..importers.torch.loader import make_layer_runner
    from ..importers.torch.pt2_archive import read_pt2
    from ..importers.torch.safe_load import load_validated

    # torch reads only what the archive reader validated (nothing from the file evaluated)
    module = load_validated(read_pt2(Path(path))).module()
    last: dict[str, str] = {}  # variable -> name of the last FX node computed on its line
    for n in module.graph.nodes:
        var = assigned_variable(n.meta.get("stack_trace")) if n.op == "call_function" else None
        if var:
            last[var] = n.name
    if not last:
        return None

    def run_layers(inputs: dict, value_names: list) -> dict:
        origin = {v: last[identifier(v)] for v in value_names if identifier(v) in last}
        return make_layer_runner(module, list(inputs), origin)(inputs, value_names)

    return run_layers
