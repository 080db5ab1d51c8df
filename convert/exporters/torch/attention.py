"""Attention as ``F.scaled_dot_product_attention`` (torch picks its fused kernels)."""
from __future__ import annotations

from .context import TorchContext, attr, py
from .registry import register


@register("Attention")
def export_attention(ctx: TorchContext, node):
    q, k, v = (ctx.x(i) for i in node.inputs[:3])
    hq, hkv = attr(node, "q_num_heads"), attr(node, "kv_num_heads")
    three_d = bool(hq)
    if three_d:  # (B, S, H*D) -> (B, H, S, D)
        q, k, v = (f"{t}.unflatten(-1, ({h}, -1)).transpose(1, 2)" for t, h in ((q, hq), (k, hkv), (v, hkv)))
    mask = ctx.x(node.inputs[3]) if len(node.inputs) > 3 and node.inputs[3] else None
    causal = bool(attr(node, "is_causal"))
    kwargs = []
    if mask is not None and causal:  # torch takes one or the other: fold the causal mask into attn_mask
        qv, kv = ctx.tmp("q"), ctx.tmp("k")
        ctx.line(f"{qv}, {kv} = {q}, {k}")
        q, k = qv, kv
        allowed = f"torch.ones({q}.shape[-2], {k}.shape[-2], dtype=torch.bool, device={q}.device).tril()"
        mask = f"({mask} & {allowed}) if {mask}.dtype == torch.bool else {mask}.masked_fill(~{allowed}, -math.inf)"
        causal = False
    if mask is not None:
        kwargs.append(f"attn_mask={mask}")
    if causal:
        kwargs.append("is_causal=True")
    if attr(node, "scale"):
        kwargs.append(f"scale={py(float(attr(node, 'scale')))}")
    sq, sk = ctx.shape(node.inputs[0]), ctx.shape(node.inputs[1])
    same_heads = hq == hkv if three_d else sq is not None and sk is not None and sq[1] == sk[1]
    if not same_heads:  # grouped heads, or head counts unknown here (a no-op when they are equal)
        kwargs.append("enable_gqa=True")
    if attr(node, "softcap"):  # F.scaled_dot_product_attention has no softcap: written out
        y = _softcapped(ctx, node, q, k, v, mask, causal)
    else:
        y = f"F.scaled_dot_product_attention({', '.join([q, k, v] + kwargs)})"
    ctx.assign(node.outputs[0], f"({y}).transpose(1, 2).flatten(2)" if three_d else y)


def _softcapped(ctx: TorchContext, node, q: str, k: str, v: str, mask: str | None, causal: bool) -> str:
    """softmax(softcap * tanh(scale * Q K^T / softcap) + mask) V, K/V heads repeated for grouped heads."""
    qv, kv, vv, s = ctx.tmp("q"), ctx.tmp("k"), ctx.tmp("v"), ctx.tmp("scores")
    ctx.line(f"{qv}, {kv}, {vv} = {q}, {k}, {v}")
    ctx.line(f"{kv}, {vv} = {kv}.repeat_interleave({qv}.shape[1] // {kv}.shape[1], dim=1), "
             f"{vv}.repeat_interleave({qv}.shape[1] // {vv}.shape[1], dim=1)")
    scale = py(float(attr(node, "scale"))) if attr(node, "scale") else f"{qv}.shape[-1] ** -0.5"
    cap = py(float(attr(node, "softcap")))
    ctx.line(f"{s} = {cap} * torch.tanh(({qv} @ {kv}.transpose(-2, -1)) * {scale} / {cap})")
    if causal:
        ctx.line(f"{s} = {s}.masked_fill(~torch.ones({s}.shape[-2], {s}.shape[-1], dtype=torch.bool, "
                 f"device={s}.device).tril(), -math.inf)")
    if mask is not None:
        m = ctx.tmp("mask")
        ctx.line(f"{m} = {mask}")
        ctx.line(f"{s} = {s}.masked_fill(~{m}, -math.inf) if {m}.dtype == torch.bool else {s} + {m}")
    # a row with every key masked gives 0, as F.scaled_dot_product_attention does
    return f"torch.nan_to_num(torch.softmax({s}.float(), -1), nan=0.0).to({qv}.dtype) @ {vv}"
