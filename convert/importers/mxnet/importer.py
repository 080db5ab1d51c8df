"""MXNet symbol + params -> IR graph."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...errors import ModelLoadError, UnsupportedAttributeError, UnsupportedError, Unsupported, UsageError
from ...ir.builder import GraphBuilder
from ...ir.graph import Graph, Source, Value
from ...ir.validate import validate
from .context import NodeContext, State
from .registry import MXNET_OPS
from .symbol import Symbol

# Inputs of these operators that inference never reads (labels of loss outputs).
_LABEL_INPUTS = {"SoftmaxOutput": {1}, "LinearRegressionOutput": {1}, "LogisticRegressionOutput": {1},
                 "MAERegressionOutput": {1}}


_PARAM_SUFFIXES = ("_weight", "_bias", "_gamma", "_beta", "_moving_mean", "_moving_var", "_running_mean",
                   "_running_var", "_alpha", "_parameters")


def _reachable(sym: Symbol) -> list[bool]:
    live = [False] * len(sym.nodes)
    stack = [h for h, _ in sym.heads]
    while stack:
        i = stack.pop()
        if live[i]:
            continue
        live[i] = True
        node = sym.nodes[i]
        skip = _LABEL_INPUTS.get(node.op, set())
        stack.extend(src for k, (src, _) in enumerate(node.inputs) if k not in skip)
    return live


def _preflight(sym: Symbol, live: list[bool], where: str) -> None:
    problems = [Unsupported(n.name, n.op, hint="unknown MXNet operator")
                for n, alive in zip(sym.nodes, live)
                if alive and n.op != "null" and MXNET_OPS.lookup(n.op) is None]
    if problems:
        raise UnsupportedError(problems, where)


def build_graph(sym: Symbol, params: dict[str, np.ndarray], input_shapes: dict | None, where: str) -> Graph:
    live = _reachable(sym)
    _preflight(sym, live, where)
    # a variable named like a parameter but absent from the params file is a missing
    # weight (reported by the operator that reads it), not a model input
    data_vars = [n for n, alive in zip(sym.nodes, live)
                 if alive and n.op == "null" and n.name not in params and not n.name.endswith(_PARAM_SUFFIXES)]
    shapes = dict(input_shapes or {})
    missing = [n.name for n in data_vars if n.name not in shapes]
    if missing:
        raise UsageError(f"{where}: MXNet symbol files carry no input shapes; pass --input-shape for "
                         f"{', '.join(missing)} (e.g. --input-shape {missing[0]}:batch,3,224,224)")
    unknown = sorted(set(shapes) - {n.name for n in data_vars})
    if unknown:
        raise UsageError(f"{where}: --input-shape names {unknown}, the model's inputs are "
                         f"{[n.name for n in data_vars]}")
    b = GraphBuilder(Path(where).stem.removesuffix("-symbol") or "mxnet", "mxnet")
    state = State(b, sym.nodes, params, shapes, where)
    for n in data_vars:
        v = b.input(n.name, "float32", shapes[n.name])
        state.values[(n.index, 0)] = v
        state.shapes[v] = tuple(shapes[n.name])
    # the MXNet names of the inputs, in graph order (IR names may be sanitised)
    b.graph.metadata["mxnet_inputs"] = json.dumps([n.name for n in data_vars])
    poisoned: set[int] = set()
    for n, alive in zip(sym.nodes, live):
        if not alive or n.op == "null":
            continue
        if any(src in poisoned for src, _ in n.inputs):
            poisoned.add(n.index)
            continue
        b.source = Source("mxnet", n.op, n.name)
        try:
            MXNET_OPS.lookup(n.op)(NodeContext(state, n), n)
        except UnsupportedAttributeError as e:
            b.attribute_error(n.name, n.op, e)
            poisoned.add(n.index)
        b.source = None
    if state.load_errors:
        raise ModelLoadError(where, "parameters do not fit the symbol:\n  " + "\n  ".join(state.load_errors))
    if b.problems:
        raise UnsupportedError(b.problems, where)
    for src, k in sym.heads:
        key = (src, k)
        if key not in state.values:
            raise UnsupportedError([Unsupported(sym.nodes[src].name, sym.nodes[src].op, "output", k,
                                                "this output is not produced by the conversion")], where)
        v = state.values[key]
        if v in b.graph.weights or any(o.name == v for o in b.graph.outputs):
            v = b.op("Identity", v, name=f"{sym.nodes[src].name}/output")
        b.graph.outputs.append(Value(v, "float32", state.shapes.get(v, state.shapes.get(state.values[key]))))
    validate(b.graph)
    return b.graph


