"""Graph optimisation passes over the IR: an ordered list of small, switchable passes.

Each pass takes a Graph and returns (graph, changes) where ``changes`` lists what it did
in words; ``optimize`` runs them in order and validates after each one.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable

from ..ir.graph import Graph
from ..ir.validate import validate
from .cleanup import remove_identity
from .dead import remove_dead
from .fold_affine import fold_affine
from .fold_bn import fold_batchnorm
from .fold_constants import fold_constants
from .fold_pad import fold_pad
from .transposes import cancel_transposes

log = logging.getLogger(__name__)

Pass = Callable[[Graph], tuple[Graph, list[str]]]

PASSES: dict[str, Pass] = {
    "remove-dead": remove_dead,
    "remove-identity": remove_identity,
    "fold-constants": fold_constants,
    "cancel-transposes": cancel_transposes,
    "fold-pad": fold_pad,
    "fold-batchnorm": fold_batchnorm,
    "fold-affine": fold_affine,
}

# Passes the writers apply while writing, where the target has a fused form the IR does
# not (see fuse_activation.py); disabling one reaches the writer as a writer option.
WRITER_PASSES = ("fuse-activation",)


def optimize(graph: Graph, disable: Iterable[str] = (), report: list | None = None,
             in_place: bool = False) -> Graph:
    """Run every enabled pass in order on a copy of ``graph`` (on ``graph`` itself with
    ``in_place``: passes that replace weights then free the originals as they go)."""
    disabled = set(disable)
    unknown = disabled - set(PASSES) - set(WRITER_PASSES)
    if unknown:
        from ..errors import UsageError

        raise UsageError(f"unknown pass(es) {sorted(unknown)}; known: {', '.join([*PASSES, *WRITER_PASSES])}")
    g = graph if in_place else graph.copy()
    for name, fn in PASSES.items():
        if name in disabled:
            continue
        g, changes = fn(g)
        validate(g)
        if report is not None:
            report.append((name, changes))
        for c in changes:
            log.debug("%s: %s", name, c)
    return g


__all__ = ["optimize", "PASSES", "WRITER_PASSES"]
