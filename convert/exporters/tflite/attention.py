"""Attention lowered exactly to LiteRT builtins: BATCH_MATMUL (K transposed by its adjY
flag), MUL by the scale, the causal and given masks (ADD of a float mask, SELECT_V2 of a
computed boolean one), SOFTMAX, BATCH_MATMUL with V. Grouped-query K/V heads are repeated
by a GATHER along the head axis; 3-D (B, S, H*D) operands are split into heads by RESHAPE
and TRANSPOSE."""
from __future__ import annotations

import numpy as np

from ...ir.optable.attention import extensions
from .context import TFLiteContext, attr, dims_of, unsupported_attr
from .indexing import stored_sizes
from .registry import register

HEADS_FIRST = (0, 2, 1, 3)  # (B, S, H, D) <-> (B, H, S, D)
NEG = -np.inf  # a masked score: exp gives exactly 0, as in torch and ONNX


def _heads(ctx: TFLiteContext, value: str, heads: int) -> tuple[int, int]:
    """An IR Q/K/V as a (B, H, S, D) tensor, and H."""
    shape = ctx.ir_shape(value)
    if len(shape) == 4:
        return ctx.get(value), shape[1]
    if heads <= 0 or not isinstance(shape[-1], int) or shape[-1] % heads:
        raise unsupported_attr("num_heads", heads, f"a head count dividing {shape[-1]}")
    want = list(shape[:2]) + [heads, shape[-1] // heads]
    xi = ctx.get(value)
    sizes = ctx.reshape_dims(want, xi, list(shape), f"{value}/heads_shape")
    split = ctx.step("RESHAPE", [xi, sizes], dims_of(want), f"{value}/heads")
    return ctx.transpose(split, HEADS_FIRST, f"{value}/heads_first"), heads


def _causal(ctx: TFLiteContext, node, sq: int, skv: int) -> int:
    """The additive upper-left-aligned causal mask: query i sees keys 0..i."""
    keep = np.arange(skv)[None, :] <= np.arange(sq)[:, None]
    return ctx.const(np.where(keep, 0.0, NEG).astype(np.float32), f"{node.name}/causal")


def _causal_at_run_time(ctx: TFLiteContext, scores: int, name: str) -> int:
    """The causal mask of lengths known only when the model runs: key j <= query i, from
    RANGEs over the scores' last two sizes, applied by SELECT_V2."""
    zero, one = ctx.ints(0, f"{name}/zero"), ctx.ints(1, f"{name}/one")
    positions = []
    for axis, expand in ((2, 1), (3, 0)):  # queries as a column, keys as a row
        size = stored_sizes(ctx, scores, axis, f"{name}/size{axis}")
        seq = ctx.tensor(f"{name}/range{axis}", [-1], "int32")
        ctx.op("RANGE", [zero, size, one], [seq])
        grid = ctx.tensor(f"{name}/grid{axis}", [-1, 1] if expand else [1, -1], "int32")
        ctx.op("EXPAND_DIMS", [seq, ctx.ints(expand, f"{name}/expand{axis}")], [grid])
        positions.append(grid)
    keep = ctx.tensor(f"{name}/keep", [-1, -1], "bool")
    ctx.op("LESS_EQUAL", [positions[1], positions[0]], [keep])
    neg = ctx.const(np.array(NEG, np.float32), f"{name}/neg")
    return ctx.step("SELECT_V2", [keep, scores, neg], ctx.dims(scores), name)


def _masked(ctx: TFLiteContext, node, scores: int, mask: str) -> int:
    dims, name = ctx.dims(scores), node.outputs[0]
    w = ctx.weight(mask)
    if w is not None:  # a constant mask becomes additive, broadcast to the scores' rank
        w = np.reshape(w, (1,) * (4 - w.ndim) + w.shape)
        add = np.where(w, 0.0, NEG) if w.dtype == bool else w
        return ctx.step("ADD", [scores, ctx.const(add.astype(np.float32), mask)], dims, f"{name}/masked")
    if ctx.dtype(mask) == "bool":
        neg = ctx.const(np.array(NEG, np.float32), f"{node.name}/neg")
        return ctx.step("SELECT_V2", [ctx.get(mask), scores, neg], dims, f"{name}/masked")
    return ctx.step("ADD", [scores, ctx.get(mask)], dims, f"{name}/masked")


@register("Attention")
def export_attention(ctx: TFLiteContext, node) -> None:
    for name, value in extensions(node):  # KV cache, windows, extra outputs
        raise unsupported_attr(name, value, "plain attention (no KV cache, windows or score outputs)")
    if float(attr(node, "softcap")):
        raise unsupported_attr("softcap", attr(node, "softcap"), "0 (no logit soft-capping)")
    q, k, v = node.inputs[:3]
    mask = node.inputs[3] if len(node.inputs) > 3 and node.inputs[3] else ""
    qi, hq = _heads(ctx, q, int(attr(node, "q_num_heads")))
    ki, hkv = _heads(ctx, k, int(attr(node, "kv_num_heads")))
    vi, _ = _heads(ctx, v, int(attr(node, "kv_num_heads")))
    if hkv <= 0 or hq % hkv:
        raise unsupported_attr("kv_num_heads", hkv, f"a divisor of the {hq} query heads")
    name = node.outputs[0]
    if hq != hkv:  # each K/V head serves hq/hkv consecutive query heads
        index = ctx.ints([h // (hq // hkv) for h in range(hq)], f"{node.name}/kv_heads")
        ki, vi = (ctx.step("GATHER", [t, index], [d if i != 1 else hq for i, d in enumerate(ctx.dims(t))],
                           f"{name}/{tag}_heads", "GatherOptions", axis=1) for t, tag in ((ki, "k"), (vi, "v")))
    qd, kd, vd = ctx.dims(qi), ctx.dims(ki), ctx.dims(vi)
    sdims = qd[:3] + [kd[2]]
    scores = ctx.step("BATCH_MATMUL", [qi, ki], sdims, f"{name}/scores", "BatchMatMulOptions", adjY=True)
    scale = float(attr(node, "scale")) or 1.0 / np.sqrt(qd[3])
    scores = ctx.step("MUL", [scores, ctx.const(np.array(scale, np.float32), f"{node.name}/scale")], sdims,
                      f"{name}/scaled")
    if int(attr(node, "is_causal")):
        if sdims[2] < 0 or sdims[3] < 0:
            scores = _causal_at_run_time(ctx, scores, f"{name}/causal")
        else:
            scores = ctx.step("ADD", [scores, _causal(ctx, node, sdims[2], sdims[3])], sdims, f"{name}/causal")
    if mask:
        scores = _masked(ctx, node, scores, mask)
    probs = ctx.step("SOFTMAX", [scores], sdims, f"{name}/probs", "SoftmaxOptions", beta=1.0)
    if len(ctx.ir_shape(q)) == 4:
        ctx.op("BATCH_MATMUL", [probs, vi], [ctx.out(name)], "BatchMatMulOptions")
        return
    y = ctx.step("BATCH_MATMUL", [probs, vi], qd[:3] + [vd[3]], f"{name}/heads")
    merged = ctx.transpose(y, HEADS_FIRST, f"{name}/seq_first")
    heads = list(ctx.ir_shape(q)[:2]) + [qd[1], vd[3]]
    ctx.op("RESHAPE", [merged, ctx.reshape_dims(ctx.ir_shape(name), merged, heads, f"{name}/shape")], [ctx.out(name)])
