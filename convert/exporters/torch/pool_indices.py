"""MaxPool with its Indices output: torch's ``return_indices`` counts within each (n, c)
plane, ONNX across the whole flattened input, so each plane's offset is added (and the
spatial axes swapped for storage_order=1)."""
from __future__ import annotations

from .context import TorchContext, attr, py, unsupported_attr
from .layers import _pool_padding
from .registry import register


@register("MaxPoolWithIndices")
def export_maxpool_with_indices(ctx: TorchContext, node):
    nd = len(attr(node, "kernel_shape"))
    order = attr(node, "storage_order")
    if nd not in (1, 2, 3):
        raise unsupported_attr("kernel_shape", attr(node, "kernel_shape"), "1-3 spatial axes")
    # padding written into the input would shift the indices: torch's own padding only
    x, padding, kernel, strides, dil = _pool_padding(node, ctx, ctx.x(node.inputs[0]), nd, float("-inf"), False)
    y, idx = ctx.tmp("pooled"), ctx.tmp("argmax")
    ctx.line(f"{y}, {idx} = F.max_pool{nd}d({x}, {py(kernel)}, {py(tuple(strides))}, {py(padding)}, "
             f"{py(tuple(dil))}, ceil_mode={bool(attr(node, 'ceil_mode'))}, return_indices=True)")
    if order and nd == 2:  # column-major within the plane: h + w * H
        ctx.line(f"{idx} = {idx} // {x}.shape[3] + {idx} % {x}.shape[3] * {x}.shape[2]")
    elif order and nd == 3:  # column-major within the volume: a + b * A + c * A * B
        a, b, c = (f"{x}.shape[{k}]" for k in (2, 3, 4))
        ctx.line(f"{idx} = {idx} // ({b} * {c}) + {idx} // {c} % {b} * {a} + {idx} % {c} * {a} * {b}")
    planes = f"torch.arange({x}.shape[0] * {x}.shape[1]).reshape({x}.shape[0], {x}.shape[1]{', 1' * nd})"
    ctx.assign(node.outputs, f"{y}, {idx} + {planes} * {x}.shape[2:].numel()")
