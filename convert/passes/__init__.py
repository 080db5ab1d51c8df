"""Graph optimisation passes over the IR: an ordered list of small, switchable passes.

Each pass takes a Graph and returns (graph, changes) where ``changes`` lists what it did
in words; ``optimize`` runs them in order and validates after each one. Passes know no
runtime: a pass that must evaluate nodes (fold-constants) gets the evaluator from the
caller (``convert.api.optimize`` supplies ``convert.runtime.evaluate.evaluate_node``).
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable

from ..errors import UsageError
from ..ir.graph import Graph
from ..ir.validate import validate
from .cleanup import remove_identity
from .dead import remove_dead
from .fold_affine import fold_affine
from .fold_bn import fold_batchnorm
from .fold_constants import Evaluator, fold_constants
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

# Passes that take the caller's node evaluator as a second argument.
_EVALUATING = {"fold-constants"}


def optimize(graph: Graph, disable: Iterable[str] = (), report: list | None = None,
             evaluate: Evaluator | None = None, in_place: bool = False) -> Graph:
    """Run every enabled pass in order on a copy of ``graph`` (on ``graph`` itself with
    ``in_place``: passes that replace weights then free the originals as they go);
    ``evaluate`` computes a node from stored weights (without one, fold-constants folds
    Constant nodes only)."""
    disabled = set(disable)
    unknown = disabled - set(PASSES) - set(WRITER_PASSES)
    if unknown:
        raise UsageError(f"unknown pass(es) {sorted(unknown)}; known: {', '.join([*PASSES, *WRITER_PASSES])}")
    g = graph if in_place else graph.copy()
    for name, fn in PASSES.items():
        if name in disabled:
            continue
        g, changes = fn(g, evaluate) if name in _EVALUATING else fn(g)  # type: ignore[call-arg]
        validate(g)
        if report is not None:
            report.append((name, changes))
        for c in changes:
            log.debug("%s: %s", name, c)
    return g


__all__ = ["optimize", "PASSES", "WRITER_PASSES"]
