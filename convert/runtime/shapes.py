"""Static shapes of every IR value, by ONNX shape inference on the ONNX export.

Exporters that must pick a layer by rank (BatchNorm1d/2d/3d) or check exactness of a
rewrite (pooling pads), and the inspection table, need the shapes of intermediate
values; ONNX already infers them for every IR op, so this reuses it rather than
re-implementing it."""
from __future__ import annotations

import logging

from ..ir.graph import Dim, Graph

log = logging.getLogger(__name__)


def infer_shapes(graph: Graph, data_prop: bool = False) -> dict[str, tuple[Dim, ...]]:
    """Value name -> shape (ints, symbolic names, or None per unknown dim). ``data_prop``
    also propagates constant shape arithmetic (Shape -> Gather -> Reshape)."""
    shapes: dict[str, tuple] = {}
    for v in list(graph.values.values()) + graph.inputs + graph.outputs:
        if v.shape is not None:
            shapes[v.name] = tuple(v.shape)
    for k, w in graph.weights.items():
        shapes[k] = tuple(w.shape)
    try:
        import onnx

        from ..exporters.onnx import inference_opset, to_onnx

        # weights of 1 KiB and more as external references to no file: shape inference needs
        # their shapes only, and would otherwise serialise every weight byte twice
        proto = to_onnx(graph, inference_opset(graph), external_data="shapes-only.bin",
                        data_writer=lambda name, arr: (0, arr.nbytes))
        model = onnx.shape_inference.infer_shapes(proto, strict_mode=False, data_prop=data_prop)
    except Exception as e:  # shapes are a help, never a reason to fail
        log.debug("shape inference failed: %s", e)
        return shapes
    for vi in list(model.graph.value_info) + list(model.graph.output):
        t = vi.type.tensor_type
        if not t.HasField("shape"):
            continue
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim)
        shapes.setdefault(vi.name, dims)
    return shapes


def value_dtypes(graph: Graph) -> dict[str, str]:
    """Value name -> IR dtype for every value ONNX type inference reaches (the IR records
    dtypes of inputs, outputs and weights; intermediate ones follow from the ops)."""
    out = {v.name: v.dtype for v in list(graph.values.values()) + graph.inputs + graph.outputs}
    out.update({k: str(w.dtype) for k, w in graph.weights.items()})
    import onnx

    from ..exporters.onnx import inference_opset, to_onnx
    from ..exporters.onnx.context import ONNX_DTYPE

    ir_dtype = {code: name for name, code in ONNX_DTYPE.items()}
    # weights as external references: type inference needs no weight bytes, so none are copied
    skeleton = to_onnx(graph, inference_opset(graph), external_data="weights.data",
                       data_writer=lambda name, arr: (0, arr.nbytes))
    model = onnx.shape_inference.infer_shapes(skeleton, strict_mode=False)
    for vi in list(model.graph.value_info) + list(model.graph.output):
        elem = vi.type.tensor_type.elem_type
        if elem in ir_dtype:
            out.setdefault(vi.name, ir_dtype[elem])
    return out
