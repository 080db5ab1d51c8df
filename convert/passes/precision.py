"""Half precision (``--precision fp16|bf16``): weights and compute in float16 or bfloat16.

Before: every float tensor float32. After: float32 weights and activations in the half
dtype, except around ops whose op-table entry says ``keep_fp32`` (normalisations,
Softmax, summing reductions: statistics and exponent sums lose too much in 11 or 8
significand bits) and ops the target cannot compute in that dtype (``computes``): those
get Casts to float32 in front and their results stay float32 until a half op reads them.
Weights are stored in the half dtype unless only keep_fp32 ops read them (a
LayerNorm's scale). Integer and bool tensors (indices, shapes,
masks) are untouched. Graph inputs and outputs stay float32 (a Cast at each boundary), so
the converted model is a drop-in replacement for the float32 one; the precision is
recorded in the graph metadata under ``METADATA_KEY``.

The pass needs every value's dtype; ``dtypes`` comes from the caller (type inference is a
runtime service: see ``convert.runtime.shapes.value_dtypes``)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..ir.graph import Graph, Node, Value, numpy_dtype
from ..ir.optable import OPS
from ..naming import claim

# CLI/API name -> IR dtype
PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
METADATA_KEY = "nnconvert.precision"
FLOAT = "float32"


def half_array(arr: np.ndarray, dtype: str) -> np.ndarray:
    """``arr`` rounded to ``dtype`` (bfloat16 through ml_dtypes, numpy has no bfloat16)."""
    return arr.astype(numpy_dtype(dtype))


def to_precision(graph: Graph, precision: str, dtypes: dict[str, str],
                 computes: Callable[[str, str], bool] | None = None) -> tuple[Graph, list[str]]:
    """A copy of ``graph`` computing in ``precision`` ("fp16"/"bf16"); ``computes(op, dtype)``
    says whether the target runs ``op`` in that dtype (default: every op)."""
    half = PRECISIONS[precision]
    g = graph.copy()
    known = {**dtypes, **{k: v.dtype for k, v in g.values.items()},
             **{v.name: v.dtype for v in g.inputs + g.outputs}, **{k: str(w.dtype) for k, w in g.weights.items()}}

    def mode(node: Node) -> str:
        if OPS[node.op].keep_fp32 or (computes is not None and not computes(node.op, half)):
            return FLOAT
        return half

    modes = {id(n): mode(n) for n in g.nodes}
    changes: list[str] = []
    fp32_ops = sorted({n.op for n in g.nodes if modes[id(n)] == FLOAT and _floats(n, known)})
    if fp32_ops:
        changes.append(f"computed in float32: {', '.join(fp32_ops)}")
    cur = {v.name: FLOAT for v in g.inputs if v.dtype == FLOAT}
    halved = 0
    consumers = g.consumers()
    for name in sorted(g.weights):
        if str(g.weights[name].dtype) != FLOAT:
            continue
        readers = consumers.get(name, [])
        # stored in the half dtype unless only ops kept in float32 by their nature read it (a
        # LayerNorm's scale); an op the target cannot run in half reads it through a Cast
        if any(n.op != "Cast" and not OPS[n.op].keep_fp32 for n in readers):
            g.weights[name] = half_array(g.weights[name], half)
            cur[name] = half
            halved += 1
        else:
            cur[name] = FLOAT
    changes.append(f"{halved} weight(s) stored as {half}")
    taken = {n.name for n in g.nodes} | {o for n in g.nodes for o in n.outputs} | set(g.weights) | {
        v.name for v in g.inputs}
    out_names = {v.name for v in g.outputs}
    renamed: dict[str, str] = {}
    casts: dict[tuple[str, str], str] = {}
    nodes: list[Node] = []

    def fresh(base: str) -> str:
        return claim(base, taken)

    def cast(value: str, to: str) -> str:
        key = (value, to)
        if key not in casts:
            out = fresh(f"{value}.{'fp32' if to == FLOAT else precision}")
            nodes.append(Node("Cast", fresh(f"{value}/to_{to}"), [value], [out], {"to": to}))
            shape = g.value_info(value).shape if g.value_info(value) is not None else None
            g.values[out] = Value(out, to, shape)
            casts[key] = out
        return casts[key]

    for n in g.nodes:
        want = modes[id(n)]
        n.inputs = [renamed.get(i, i) for i in n.inputs]
        float_in = [i for i in n.inputs if i and cur.get(i) in (FLOAT, half)]
        if n.op == "Cast":  # reads any dtype; a cast to float32 inside the graph becomes one to `want`
            if n.attrs.get("to") == FLOAT:
                n.attrs["to"] = want
        elif float_in:
            n.inputs = [cast(i, want) if i in float_in and cur[i] != want else i for i in n.inputs]
        for k, o in enumerate(n.outputs):
            if not o or known.get(o) != FLOAT:
                continue
            # an op making floats from no float input (constants, Range) keeps its float32
            dt = want if (float_in or n.op == "Cast") else FLOAT
            if o in out_names and dt != FLOAT:  # the boundary stays float32: a Cast behind the op
                renamed[o] = fresh(f"{o}.{precision}")
                n.outputs[k] = renamed[o]
                if o in g.values:
                    g.values[renamed[o]] = Value(renamed[o], dt, g.values.pop(o).shape)
                o = renamed[o]
            cur[o] = dt
            # recorded, so exporters give the constants they add the dtype of their operand
            g.values.setdefault(o, Value(o, dt, None)).dtype = dt
        nodes.append(n)
    for o, inner in renamed.items():
        nodes.append(Node("Cast", fresh(f"{o}/to_float32"), [inner], [o], {"to": FLOAT}))
    g.nodes = nodes
    g.metadata[METADATA_KEY] = precision
    return g, changes


def _floats(node: Node, known: dict[str, str]) -> bool:
    return any(known.get(v) == FLOAT for v in [*node.inputs, *node.outputs] if v)
