"""Attention as ``F.scaled_dot_product_attention`` (torch picks its fused kernels)."""
from __future__ import annotations

from .context import TorchContext, attr, py
from .registry import register


@register("Attention")
def export_attention(node, ctx: TorchContext):
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


@register("RotaryEmbedding")
def export_rotary_embedding(node, ctx: TorchContext):
    """The ONNX formula on (B, S, H, D) heads; every size is read at run time."""
    x = ctx.x(node.inputs[0])
    cos, sin = ctx.x(node.inputs[1]), ctx.x(node.inputs[2])
    if len(node.inputs) > 3 and node.inputs[3]:
        pos = ctx.x(node.inputs[3])
        cos, sin = f"{cos}[{pos}]", f"{sin}[{pos}]"
    heads = int(attr(node, "num_heads"))
    h = ctx.tmp("heads")
    # 4-D X is (B, H, S, D); 3-D X is (B, S, H*D)
    ctx.line(f"{h} = {x}.unflatten(-1, ({heads}, -1))" if heads else f"{h} = {x}.transpose(1, 2)")
    r = int(attr(node, "rotary_embedding_dim")) or None
    rot, c, s = ctx.tmp("rot"), ctx.tmp("cos"), ctx.tmp("sin")
    ctx.line(f"{rot} = {h}[..., :{r if r else f'{h}.shape[-1]'}]")
    ctx.line(f"{c}, {s} = {cos}.unsqueeze(2), {sin}.unsqueeze(2)")
    x1, x2 = ctx.tmp("x1"), ctx.tmp("x2")
    if attr(node, "interleaved"):
        ctx.line(f"{x1}, {x2} = {rot}[..., 0::2], {rot}[..., 1::2]")
        joined = f"torch.stack([{x1} * {c} - {x2} * {s}, {x1} * {s} + {x2} * {c}], -1).flatten(-2)"
    else:
        ctx.line(f"{x1}, {x2} = {rot}.chunk(2, -1)")
        joined = f"torch.cat([{x1} * {c} - {x2} * {s}, {x1} * {s} + {x2} * {c}], -1)"
    out = ctx.tmp("rotated")
    ctx.line(f"{out} = torch.cat([{joined}, {h}[..., {rot}.shape[-1]:]], -1)")
    ctx.assign(node.outputs[0], f"{out}.flatten(-2)" if heads else f"{out}.transpose(1, 2)")


@register("LinearAttention")
def export_linear_attention(node, ctx: TorchContext):
    """The recurrence as a loop over time steps, in float32 as ONNX defines it."""
    ins = list(node.inputs) + [""] * 6
    q, k, v = (ctx.x(i) for i in ins[:3])
    past, decay, beta = (ctx.x(i) if i else None for i in ins[3:6])
    hq, hkv, rule = int(attr(node, "q_num_heads")), int(attr(node, "kv_num_heads")), attr(node, "update_rule")
    heads = {}
    for name, x, h in (("q", q, hq), ("k", k, hkv), ("v", v, hkv), ("decay", decay, hkv)):
        if x is not None:  # (B, T, H*D) -> (B, H, T, D)
            heads[name] = ctx.tmp(name)
            ctx.line(f"{heads[name]} = {x}.unflatten(-1, ({h}, -1)).transpose(1, 2).float()")
    if beta is not None:  # (B, T, H or 1) -> (B, H or 1, T, 1)
        heads["beta"] = ctx.tmp("beta")
        ctx.line(f"{heads['beta']} = {beta}.unsqueeze(-1).transpose(1, 2).float()")
    state, outs, t = ctx.tmp("state"), ctx.tmp("outs"), ctx.tmp("t")
    qh, kh, vh = heads["q"], heads["k"], heads["v"]
    zeros = f"{qh}.new_zeros({qh}.shape[0], {hkv}, {qh}.shape[-1], {vh}.shape[-1])"
    ctx.line(f"{state} = {past}.float()" if past is not None else f"{state} = {zeros}")
    scale = float(attr(node, "scale")) or f"({qh}.shape[-1] ** -0.5)"
    ctx.line(f"{outs} = []")
    ctx.line(f"for {t} in range({qh}.shape[2]):")
    vt = ctx.tmp("v_t")
    ctx.line(f"    {vt} = {vh}[:, :, {t}]")
    if rule in ("gated", "gated_delta"):
        ctx.line(f"    {state} = {state} * torch.exp({heads['decay']}[:, :, {t}])[..., None]")
    if rule in ("delta", "gated_delta"):
        retrieved = f"torch.einsum('bhdm,bhd->bhm', {state}, {kh}[:, :, {t}])"
        ctx.line(f"    {vt} = {heads['beta']}[:, :, {t}] * ({vt} - {retrieved})")
    ctx.line(f"    {state} = {state} + {kh}[:, :, {t}, :, None] * {vt}[..., None, :]")
    read = f"{state}.repeat_interleave({hq // hkv}, 1)" if hq != hkv else state
    ctx.line(f"    {outs}.append({py(scale) if isinstance(scale, float) else scale} * "
             f"torch.einsum('bhd,bhdm->bhm', {qh}[:, :, {t}], {read}))")
    if len(node.outputs) > 1 and node.outputs[1]:
        ctx.assign(node.outputs[1], f"{state}.to({past if past is not None else q}.dtype)")
    ctx.assign(node.outputs[0], f"torch.stack({outs}, 2).transpose(1, 2).flatten(2).to({q}.dtype)")
