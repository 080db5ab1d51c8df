"""Static shapes of every IR value, by ONNX shape inference on the ONNX export.

Exporters that must pick a layer by rank (BatchNorm1d/2d/3d) or check exactness of a
rewrite (pooling pads) need the shapes of intermediate values; ONNX already knows how
to infer them for every IR op, so this reuses it rather than re-implementing it."""
from __future__ import annotations

import logging

from ...ir.graph import Dim, Graph

log = logging.getLogger(__name__)


def infer_shapes(graph: Graph) -> dict[str, tuple[Dim, ...]]:
    """Value name -> shape (ints, symbolic names, or None per unknown dim)."""
    shapes: dict[str, tuple] = {}
    for v in list(graph.values.values()) + graph.inputs + graph.outputs:
        if v.shape is not None:
            shapes[v.name] = tuple(v.shape)
    for k, w in graph.weights.items():
        shapes[k] = tuple(w.shape)
    try:
        import onnx

        from ..onnx import to_onnx

        model = onnx.shape_inference.infer_shapes(to_onnx(graph), strict_mode=False)
    except Exception as e:  # shapes are a help for exporters, never a reason to fail
        log.debug("shape inference failed: %s", e)
        return shapes
    for vi in list(model.graph.value_info) + list(model.graph.output):
        t = vi.type.tensor_type
        if not t.HasField("shape"):
            continue
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim)
        shapes.setdefault(vi.name, dims)
    return shapes
