"""Trace a module with torch.export (dynamic batch when possible) and convert it."""
from __future__ import annotations

import inspect
import logging
import warnings
from typing import Any, Sequence

from ...errors import Unsupported, UnsupportedError
from ...ir.graph import Graph

log = logging.getLogger(__name__)


def as_tuple(example_inputs: Any) -> tuple:
    return tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)


def export_module(module, args: tuple, dynamic_axes: Sequence[set[int]] | None):
    """torch.export without decompositions (conv, batch_norm, lstm stay single ATen ops).
    ``dynamic_axes`` lists, per positional input, the axes to keep symbolic; when the
    model specialises them (or export fails with them), a static export is tried."""
    import torch

    module.eval()
    attempts = []
    if dynamic_axes and any(dynamic_axes):
        specs = [{ax: torch.export.Dim.AUTO for ax in axes} if isinstance(a, torch.Tensor) and axes else None
                 for a, axes in zip(args, dynamic_axes)]
        # torch specialises a size-1 example dimension, so a batch of 1 is traced as 2
        # (the sample repeated); the static fallback below uses the original inputs.
        wide = tuple(a.expand(2, *a.shape[1:]).clone() if isinstance(a, torch.Tensor) and 0 in axes
                     and a.dim() > 0 and a.shape[0] == 1 else a for a, axes in zip(args, dynamic_axes))
        attempts.append((wide, _by_parameter(module, wide, specs)))
    attempts.append((args, None))
    # Non-strict first (newer torch's default): 2.6's strict default runs dynamo, whose
    # per-class recompile limit fails the ninth export of one module class. Where strict is
    # the default (2.6), strict is tried second: 2.6's non-strict export refuses RNN modules
    # ("tensor attributes assigned during export"), which newer torch only warns about.
    modes = (False, True) if inspect.signature(torch.export.export).parameters["strict"].default else (False,)
    err = None
    for args, dyn in attempts:
        for strict in modes:
            try:
                with warnings.catch_warnings(), torch.no_grad():
                    # RNN modules trigger a harmless "tensor attributes assigned during export" warning.
                    warnings.simplefilter("ignore")
                    return torch.export.export(module, args, dynamic_shapes=dyn, strict=strict)
            except Exception as e:  # noqa: BLE001  (re-raised below as one clear error)
                err = e
        if dyn is not None:
            log.warning("export with a dynamic batch failed (%s); trying static shapes", _first_line(err))
    raise UnsupportedError([Unsupported(type(module).__name__, "torch.export", hint=_first_line(err))],
                           "PyTorch model (torch.export cannot trace it)")


def _by_parameter(module, args: tuple, specs: list):
    """dynamic_shapes in the structure of forward()'s signature (``*args`` is one tuple)."""
    import inspect

    try:
        bound = inspect.signature(module.forward).bind(*args)
    except (TypeError, ValueError):
        return tuple(specs)
    out, i = {}, 0
    for name, value in bound.arguments.items():
        n = len(value) if isinstance(value, tuple) and bound.signature.parameters[name].kind == \
            inspect.Parameter.VAR_POSITIONAL else None
        out[name] = tuple(specs[i:i + n]) if n is not None else specs[i]
        i += n if n is not None else 1
    return out


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"


def convert_program(ep, input_names: list[str] | None = None, name: str = "model",
                    input_shapes: dict[str, tuple] | None = None, budget=None,
                    gaps: list | None = None) -> tuple[Graph, dict[str, str]]:
    """An ExportedProgram (or the archive reader's Program, which names the torch
    version that wrote it) -> (IR graph, IR value -> FX node name). ``budget``
    (limits.Budget of the file read) bounds the constants the importer creates; ``gaps``
    (pre-flight only) collects unsupported nodes instead of raising."""
    from .context import convert_exported

    graph, origin = convert_exported(ep, input_names, name, input_shapes, budget, gaps)
    version = getattr(ep, "torch_version", None)
    if version is None:
        import torch

        version = torch.__version__
    graph.metadata.update({"source_framework": "torch", "torch_version": str(version).split("+")[0]})
    return graph, origin


def from_torch(module, example_inputs, *, dynamic_batch: bool = True, input_names: list[str] | None = None,
               tracer: str = "auto") -> Graph:
    """``tracer``: "fx" (torch.fx, fast), "export" (torch.export), "auto" (fx, else export)."""
    from .fx.front import from_module

    return from_module(module, as_tuple(example_inputs), dynamic_batch=dynamic_batch, input_names=input_names,
                       tracer=tracer)[0]
