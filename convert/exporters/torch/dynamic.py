"""Ops with data-dependent output sizes, in plain torch ops (no torchvision): NonZero,
Unique with ONNX's ordering, and greedy NonMaxSuppression."""
from __future__ import annotations

from .context import TorchContext, attr, py
from .registry import register


@register("NonZero")
def export_nonzero(ctx: TorchContext, node):
    ctx.assign(node.outputs[0], f"torch.nonzero({ctx.x(node.inputs[0])}).T")


@register("Unique")
def export_unique(ctx: TorchContext, node):
    """torch.unique sorts; the first-occurrence indices come from a scatter-min over the
    inverse map, and ``sorted=0`` reorders everything by first occurrence (ONNX's order)."""
    x, axis = ctx.x(node.inputs[0]), attr(node, "axis")
    src, y, inv, cnt, first = (ctx.tmp(t) for t in ("src", "y", "inverse", "counts", "first"))
    ctx.line(f"{src} = {x}.flatten()" if axis is None else f"{src} = {x}")
    dim = 0 if axis is None else int(axis)
    ctx.line(f"{y}, {inv}, {cnt} = torch.unique({src}, sorted=True, return_inverse=True, return_counts=True"
             f"{'' if axis is None else f', dim={dim}'})")
    # int64 already; torch 2.6's torch.export reads them as the input's dtype without it
    ctx.line(f"{inv}, {cnt} = {inv}.long(), {cnt}.long()")
    ctx.line(f"{first} = torch.full_like({cnt}, {src}.shape[{dim}]).scatter_reduce(0, {inv}, "
             f"torch.arange({src}.shape[{dim}], device={src}.device), 'amin')")
    if not attr(node, "sorted"):
        perm = ctx.tmp("perm")
        ctx.line(f"{perm} = {first}.argsort()")
        ctx.line(f"{y}, {first}, {cnt}, {inv} = {y}.index_select({dim}, {perm}), {first}[{perm}], {cnt}[{perm}], "
                 f"{perm}.argsort()[{inv}]")
    results = [y, first, inv, cnt]
    outs = [(o, r) for o, r in zip(node.outputs, results) if o]
    ctx.assign([o for o, _ in outs], ", ".join(r for _, r in outs) + ("," if len(outs) == 1 else ""))


def _corners(ctx: TorchContext, boxes: str, center: bool) -> tuple[str, str, str, str]:
    """x1, y1, x2, y2 with x1 <= x2 and y1 <= y2, as ONNX's reference computes them."""
    x1, y1, x2, y2 = (ctx.tmp(t) for t in ("x1", "y1", "x2", "y2"))
    b = boxes
    if center:
        ctx.line(f"{x1}, {x2} = {b}[..., 0] - {b}[..., 2] / 2, {b}[..., 0] + {b}[..., 2] / 2")
        ctx.line(f"{y1}, {y2} = {b}[..., 1] - {b}[..., 3] / 2, {b}[..., 1] + {b}[..., 3] / 2")
    else:
        ctx.line(f"{y1}, {y2} = torch.minimum({b}[..., 0], {b}[..., 2]), torch.maximum({b}[..., 0], {b}[..., 2])")
        ctx.line(f"{x1}, {x2} = torch.minimum({b}[..., 1], {b}[..., 3]), torch.maximum({b}[..., 1], {b}[..., 3])")
    return x1, y1, x2, y2


@register("NonMaxSuppression")
def export_nms(ctx: TorchContext, node):
    """Per batch and class, boxes in descending score order (stable: lower index first on
    ties); box i is kept when it passes the score filter and no kept box before it
    suppresses it. That greedy rule is a fixed point reached in at most N vectorised
    steps (step t settles box t), then the first max_output_boxes_per_class are kept."""
    boxes, scores = ctx.x(node.inputs[0]), ctx.x(node.inputs[1])
    x1, y1, x2, y2 = _corners(ctx, boxes, bool(attr(node, "center_point_box")))
    a, b = "[:, :, None]", "[:, None, :]"
    ix1, ix2, iy1, iy2, area, inter, sup = (ctx.tmp(t) for t in ("ix1", "ix2", "iy1", "iy2", "area", "inter", "sup"))
    ctx.line(f"{ix1}, {ix2} = torch.maximum({x1}{a}, {x1}{b}), torch.minimum({x2}{a}, {x2}{b})")
    ctx.line(f"{iy1}, {iy2} = torch.maximum({y1}{a}, {y1}{b}), torch.minimum({y2}{a}, {y2}{b})")
    ctx.line(f"{area} = ({x2} - {x1}) * ({y2} - {y1})")
    ctx.line(f"{inter} = ({ix2} - {ix1}) * ({iy2} - {iy1})")
    union = f"({area}{a} + {area}{b} - {inter})"
    iou = py(float(attr(node, "iou_threshold")))
    # (B, N, N): box j suppresses box i
    ctx.line(f"{sup} = ({ix2} > {ix1}) & ({iy2} > {iy1}) & ({inter} > 0) & ({area}{a} > 0) & ({area}{b} > 0) "
             f"& ({union} > 0) & ({inter} / {union} > {iou})")
    ss, order, n, valid, keep, s4 = (ctx.tmp(t) for t in ("sorted_scores", "order", "n", "valid", "keep", "sup_c"))
    ctx.line(f"{ss}, {order} = torch.sort({scores}, dim=-1, descending=True, stable=True)")
    ctx.line(f"{n} = {scores}.shape[-1]")
    thr = attr(node, "score_threshold")
    ctx.line(f"{valid} = {ss} > {py(float(thr))}" if thr is not None else f"{valid} = torch.ones_like({ss}, dtype=torch.bool)")
    # (B, C, N, N) in score order; only earlier boxes (row j < column i) count
    ctx.line(f"{s4} = {sup}[:, None].expand(-1, {scores}.shape[1], -1, -1)")
    ctx.line(f"{s4} = {s4}.gather(2, {order}[..., :, None].expand(-1, -1, -1, {n}))"
             f".gather(3, {order}[..., None, :].expand(-1, -1, {n}, -1))")
    ctx.line(f"{s4} = {s4} & torch.ones({n}, {n}, dtype=torch.bool, device={s4}.device).triu(1)")
    step = f"{valid} & ~({keep}[..., :, None] & {s4}).any(-2)"
    if isinstance((ctx.shape(node.inputs[0]) or (None, None))[1], int):
        ctx.line(f"{keep} = {valid}")
        ctx.line(f"for _ in range({n}): {keep} = {step}")
    else:  # an open box count: torch.export records a while_loop, where it would fix a for loop's count
        ctx.line(f"_, {keep} = torch._higher_order_ops.while_loop(lambda i, {keep}: i < {n}, lambda i, {keep}: "
                 f"(i + 1, {step}), (torch.zeros((), dtype=torch.int64), {valid}.clone()))")
    ctx.line(f"{keep} = {keep} & ({keep}.cumsum(-1) <= {int(attr(node, 'max_output_boxes_per_class'))})")
    sel = ctx.tmp("sel")
    ctx.line(f"{sel} = {keep}.nonzero()")
    ctx.assign(node.outputs[0], f"torch.stack([{sel}[:, 0], {sel}[:, 1], {order}[{sel}[:, 0], {sel}[:, 1], {sel}[:, 2]]], 1)")
