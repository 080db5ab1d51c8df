"""PyTorch importer -> IR. A live module is traced with torch.fx by default (torch.export
for what torch.fx cannot handle, or when asked); a ``.pt2`` file holds a torch.export
ExportedProgram (ATen graph), read as such.

Importing this package does not import torch; ``from_torch`` and ``load`` do.
"""
from __future__ import annotations

from typing import Any


def from_torch(module: Any, example_inputs: tuple, *, dynamic_batch: bool = True,
               input_names: list[str] | None = None, tracer: str = "auto"):
    """Convert a live ``nn.Module`` (switched to eval mode) traced on ``example_inputs``.

    ``tracer="fx"`` uses torch.fx (fast, no dynamo), ``"export"`` torch.export, and
    ``"auto"`` torch.fx with torch.export for whatever torch.fx cannot handle."""
    from .trace import from_torch as _from_torch

    return _from_torch(module, example_inputs, dynamic_batch=dynamic_batch, input_names=input_names, tracer=tracer)


def load(path: str, *, weights: str | None = None, trust_pickle: bool = False,
         input_shapes: dict[str, tuple] | None = None, bridge: bool = False, **_ignored):
    """Load ``model.pt2``, ``file.py:factory`` (optionally with ``weights``) or, with
    ``trust_pickle``, a pickled ``.pt``/``.pth`` module; returns a LoadedModel. With
    ``bridge`` (the pre-flight check) unsupported nodes are listed in ``.gaps`` and the
    rest is imported."""
    from .loader import load as _load

    return _load(path, weights=weights, trust_pickle=trust_pickle, input_shapes=input_shapes, bridge=bridge)


def supported_ops() -> list[str]:
    """The ATen overloads the importer handles (for the support matrix)."""
    from .registry import REG, load_handlers

    load_handlers()

    return REG.keys()


__all__ = ["from_torch", "load", "supported_ops"]
