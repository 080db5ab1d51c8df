"""A readable table of an IR graph: layer, op, output shape, parameter count."""
from __future__ import annotations

from .ir.graph import Graph
from .runtime.shapes import infer_shapes


def table(graph: Graph, source_params: int | None = None, framework: str = "") -> str:
    """The IR as rows; the total counts parameters as the source framework does
    (``source_params``), with the IR's own count beside it where they differ."""
    shapes = infer_shapes(graph, data_prop=True)
    rows = [("#", "layer", "source type", "op", "output shape", "params")]
    total = 0
    for i, n in enumerate(graph.nodes):
        params = graph.param_count(n)
        total += params
        out = n.outputs[0] if n.outputs and n.outputs[0] else next((o for o in n.outputs if o), "")
        shape = shapes.get(out)
        layer = n.source.layer_name if n.source else n.name
        ltype = n.source.layer_type if n.source else ""
        rows.append((str(i), layer, ltype, n.op, "?" if shape is None else "x".join("?" if d is None else str(d) for d in shape), f"{params:,}"))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if j not in (0, 5) else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    ins = ", ".join(f"{v.name}: {v.dtype}[{','.join(map(str, v.shape or ['?']))}]" for v in graph.inputs)
    outs = ", ".join(f"{v.name}: {v.dtype}" for v in graph.outputs)
    mb = graph.weight_bytes() / 2**20
    lines += ["", f"inputs: {ins}", f"outputs: {outs}",
              f"total: {len(graph.nodes)} nodes, {_params(total, source_params, framework)}, {mb:.2f} MiB of weights"]
    kinds: dict[str, int] = {}
    for w in graph.weights.values():
        kinds[str(w.dtype)] = kinds.get(str(w.dtype), 0) + int(w.size)
    if len(kinds) > 1 or not kinds.keys() <= {"float32"}:  # a half-precision or quantized model says so
        lines.append("weights: " + ", ".join(f"{k} {n:,}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])))
    return "\n".join(lines)


def _params(ir_count: int, source_count: int | None, framework: str) -> str:
    if source_count is None or source_count == ir_count:
        return f"{ir_count:,} parameters"
    return (f"{source_count:,} parameters as {framework or 'the source'} counts them ({ir_count:,} IR weight "
            "elements: the IR stores some differently, e.g. an LSTM bias in two halves, BatchNorm statistics)")
