"""MXNet importer: ``name-symbol.json`` + ``name-0000.params`` -> IR, without MXNet.

The symbol JSON and the NDArray ``.params`` binary are parsed here (numpy and the
standard library only). Verification runs the original model in real MXNet through a
separate interpreter named by ``NNCONVERT_MXNET_PYTHON`` (MXNet 1.9 needs numpy<1.24,
so it lives in its own environment); see ``runner.py``.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import ModelLoadError, UsageError
from ...ir.graph import Graph
from ...loaded import LoadedModel

FRAMEWORK = "mxnet (no runtime needed to convert)"


def find_params(symbol: str) -> str:
    """``name-symbol.json`` -> the one ``name-NNNN.params`` beside it."""
    p = Path(symbol)
    stem = p.name[:-len("-symbol.json")] if p.name.endswith("-symbol.json") else p.stem
    found = sorted(p.parent.glob(f"{stem}-[0-9][0-9][0-9][0-9].params"))
    if len(found) != 1:
        what = "none" if not found else ", ".join(f.name for f in found)
        raise ModelLoadError(symbol, f"pass --weights NAME-NNNN.params: found {what} beside the symbol file")
    return str(found[0])


def from_mxnet(symbol: str, params: str | None = None, input_shapes: dict | None = None) -> Graph:
    """Convert ``name-symbol.json`` (+ its ``.params``; found beside it when omitted)."""
    from . import ops  # noqa: F401  (registers the operator handlers)
    from .importer import build_graph
    from .params import read_params, split_prefixes
    from .symbol import read_symbol

    params = params or find_params(symbol)
    sym = read_symbol(symbol)
    arrays = split_prefixes(read_params(params), params)
    return build_graph(sym, arrays, input_shapes, str(symbol))


def load(path: str, *, weights: str | None = None, input_shapes: dict | None = None, **_ignored) -> LoadedModel:
    """CLI entry: ``path`` is the symbol JSON, ``weights`` the params file."""
    from .runner import make_runner

    if str(path).endswith(".params"):
        raise UsageError(f"{path}: give the symbol file as the source (NAME-symbol.json) and this file with --weights")
    params = str(weights) if weights else find_params(path)
    graph = from_mxnet(path, params, input_shapes)
    run, version = make_runner(path, params, graph)
    return LoadedModel(graph=graph, format="mxnet", path=str(path), run=run,
                       framework_version=version or FRAMEWORK)


__all__ = ["from_mxnet", "load", "find_params"]
