"""Attention as ``F.scaled_dot_product_attention`` (torch picks its fused kernels)."""
from __future__ import annotations

from ...ir.optable.attention import extensions
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
    if extensions(node) or (mask is not None and not _mask_covers_keys(ctx, node)):
        written_out(ctx, node, q, k, v, mask, three_d)
        return
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


def _mask_covers_keys(ctx: TorchContext, node) -> bool:
    m, k = ctx.shape(node.inputs[3]), ctx.shape(node.inputs[1])
    axis = -2 if len(k or ()) == 4 else 1
    # equal sizes, or one symbolic size by name (the same run-time length)
    return m is not None and k is not None and m[-1] == k[axis] and m[-1] not in (None, -1)


def written_out(ctx: TorchContext, node, q: str, k: str, v: str, mask: str | None, three_d: bool) -> None:
    """The KV cache, positions offset by the cache, windows, a mask shorter than the keys,
    the scores output and a half-precision softmax, step by step as ONNX's reference
    computes them."""
    ins = list(node.inputs) + [""] * (7 - len(node.inputs))
    half = bool(attr(node, "softmax_precision"))
    qv, kv, vv, bias, pos, j, ok = (ctx.tmp(t) for t in ("q", "k", "v", "bias", "pos", "key_index", "allowed"))
    ctx.line(f"{qv}, {kv}, {vv} = {q}, {k}, {v}")
    if ins[4]:
        ctx.line(f"{kv}, {vv} = torch.cat([{ctx.x(ins[4])}, {kv}], 2), torch.cat([{ctx.x(ins[5])}, {vv}], 2)")
    # the absolute position of each query (B, 1, Sq, 1) or (Sq, 1), and each key's index
    offset = f"{ctx.x(ins[4])}.shape[2]" if ins[4] else f"({ctx.x(ins[6])}.reshape(-1, 1, 1, 1) - {qv}.shape[2])" \
        if ins[6] else "0"
    ctx.line(f"{pos} = torch.arange({qv}.shape[2], device={qv}.device)[:, None] + {offset}")
    ctx.line(f"{j} = torch.arange({kv}.shape[2], device={qv}.device)")
    ctx.line(f"{ok} = torch.ones_like({pos} >= {j})")
    if attr(node, "is_causal"):
        ctx.line(f"{ok} = {ok} & ({j} <= {pos})")
    left, right = attr(node, "left_window_size"), attr(node, "right_window_size")
    if left >= 0:
        ctx.line(f"{ok} = {ok} & ({pos} - {j} <= {left})")
    if right >= 0:
        ctx.line(f"{ok} = {ok} & ({j} - {pos} <= {right})")
    if ins[6]:
        ctx.line(f"{ok} = {ok} & ({j} < {ctx.x(ins[6])}.reshape(-1, 1, 1, 1))")
    ctx.line(f"{bias} = torch.zeros((), dtype={qv}.dtype).masked_fill(~{ok}, -math.inf)")
    if mask is not None:  # padded with "masked" up to the key length
        m = ctx.tmp("mask")
        ctx.line(f"{m} = {mask}")
        ctx.line(f"{m} = F.pad({m}, (0, {kv}.shape[2] - {m}.shape[-1]), value=False if {m}.dtype == torch.bool "
                 f"else -math.inf)")
        ctx.line(f"{bias} = {bias} + (torch.zeros((), dtype={qv}.dtype).masked_fill(~{m}, -math.inf) "
                 f"if {m}.dtype == torch.bool else {m})")
    present = (kv, vv)
    s, p = ctx.tmp("scores"), ctx.tmp("probs")
    scale = py(float(attr(node, "scale"))) if attr(node, "scale") else f"{qv}.shape[-1] ** -0.5"
    kr, vr = ctx.tmp("k_heads"), ctx.tmp("v_heads")  # grouped K/V heads repeated; the cache keeps them
    ctx.line(f"{kr}, {vr} = {kv}.repeat_interleave({qv}.shape[1] // {kv}.shape[1], dim=1), "
             f"{vv}.repeat_interleave({qv}.shape[1] // {vv}.shape[1], dim=1)")
    kv, vv = kr, vr
    # sqrt(scale) on each side, as ONNX's reference and function body scale (in a half
    # softmax_precision, rounded to that dtype first, as the function body casts it)
    root = f"math.sqrt({scale})"
    if half:
        root = ctx.tmp("root_scale")
        ctx.line(f"{root} = torch.full((), math.sqrt({scale}), dtype={qv}.dtype, device={qv}.device)")
    ctx.line(f"{s} = ({qv} * {root}) @ ({kv} * {root}).transpose(-2, -1)")
    if attr(node, "softcap"):
        cap = py(float(attr(node, "softcap")))
        ctx.line(f"{s} = torch.tanh({s} / {cap}) * {cap}")
    mode = attr(node, "qk_matmul_output_mode")
    raw = ctx.tmp("qk")
    ctx.line(f"{raw} = {s}")
    ctx.line(f"{s} = {s} + {bias}")
    # a query row with every key masked attends to nothing: probabilities 0
    none = f"torch.isneginf({bias}.amax(-1, keepdim=True))"
    if half:  # each step rounded to the half dtype, as ONNX's reference and function body
        e = ctx.tmp("exp")
        ctx.line(f"{e} = torch.exp({s} - {s}.amax(-1, keepdim=True))")
        ctx.line(f"{p} = ({e} / {e}.sum(-1, keepdim=True)).masked_fill({none}, 0)")
    else:
        ctx.line(f"{p} = torch.softmax({s}.float(), -1).masked_fill({none}, 0)")
    y = f"{p}.to({qv}.dtype) @ {vv}"
    outs = list(node.outputs) + [""] * (4 - len(node.outputs))
    qk = {0: raw, 1: raw, 2: s}.get(mode, p)
    exprs = [f"({y}).transpose(1, 2).flatten(2)" if three_d else y, *present, f"{qk}.to({qv}.dtype)"]
    # one target takes its expression bare ("y = e"; "y = e," would bind a tuple)
    ctx.assign([o for o in outs if o], ", ".join(e for o, e in zip(outs, exprs) if o))


@register("RotaryEmbedding")
def export_rotary_embedding(ctx: TorchContext, node):
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
def export_linear_attention(ctx: TorchContext, node):
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
