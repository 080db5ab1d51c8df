"""Caffe importer: deploy.prototxt and/or .caffemodel -> IR, with Caffe's exact semantics.

Needs only protobuf (the project's own ``schemas/caffe.proto``, compiled to
``caffe_pb2.py``); Caffe itself is never imported or run. Importing this package
imports no deep-learning framework and not even protobuf: that happens on first use.
"""
from __future__ import annotations

import logging
from pathlib import Path

from ...ir.graph import Graph
from ...loaded import LoadedModel

log = logging.getLogger(__name__)

FRAMEWORK_VERSION = "caffe (no runtime)"


def _convert(prototxt, caffemodel, allow_missing_weights, gaps=None):
    from . import layers  # noqa: F401  (registers the layer handlers)
    from .importer import build_graph, read_net

    from ... import limits

    cn, blobs = read_net(prototxt, caffemodel, allow_missing_weights)
    where = str(prototxt or caffemodel)
    size = sum(Path(f).stat().st_size for f in (prototxt, caffemodel) if f)
    return build_graph(cn, blobs, allow_missing_weights, where, limits.Budget(where, size), gaps)


def from_caffe(prototxt: str | None, caffemodel: str | None = None, *,
               allow_missing_weights: bool = False) -> Graph:
    """Convert a Caffe net. A .caffemodel alone works (it carries the layer definitions);
    a prototxt without weights only with ``allow_missing_weights=True`` (zero-filled)."""
    graph, warnings = _convert(prototxt, caffemodel, allow_missing_weights)
    for w in warnings:
        log.warning("%s", w)
    return graph


def load(path: str, *, weights: str | None = None, allow_missing_weights: bool = False, bridge: bool = False,
         **_ignored) -> LoadedModel:
    """CLI entry: ``path`` is a prototxt (``weights`` the caffemodel) or a caffemodel alone."""
    p = str(path)
    if weights is None and Path(p).suffix.lower() == ".caffemodel":
        prototxt, caffemodel = None, p
    else:
        prototxt, caffemodel = p, (str(weights) if weights is not None else _beside(p, allow_missing_weights))
    gaps: list | None = [] if bridge else None
    graph, warnings = _convert(prototxt, caffemodel, allow_missing_weights, gaps)
    if caffemodel is not None and weights is None and prototxt is not None:
        warnings.insert(0, f"weights read from {caffemodel} (the .caffemodel beside {Path(p).name})")
    return LoadedModel(graph=graph, format="caffe", path=p, run=None, framework_version=FRAMEWORK_VERSION,
                       warnings=warnings, gaps=gaps or [])


def _beside(prototxt: str, allow_missing_weights: bool) -> str | None:
    """The weights of ``deploy.prototxt`` when none are given: ``deploy.caffemodel`` beside it
    (unless zero-filled weights were asked for)."""
    found = Path(prototxt).with_suffix(".caffemodel")
    return str(found) if not allow_missing_weights and found.is_file() else None


__all__ = ["from_caffe", "load", "FRAMEWORK_VERSION"]
