"""Attention and the normalisations of transformer blocks as built-in Keras layers, or
``keras.ops.dot_product_attention`` (an operation node, never Lambda)."""
from __future__ import annotations

import numpy as np

from ...ir.optable.attention import extensions
from .. import channels_last as L
from .context import KerasContext, attr, unsupported_attr
from .layers import _const
from .registry import register

BTNH_FROM_BNTH = (0, 2, 1, 3)  # IR 4-D (B, heads, S, D) -> dot_product_attention's (B, S, heads, D)


def _heads(ctx: KerasContext, value: str, heads: int):
    """An IR Q/K/V as (B, S, heads, D): 3-D (B, S, heads*D) is reshaped, 4-D transposed."""
    shape = ctx.ir_shape(value)
    if len(shape) == 4:
        return ctx.get(value, BTNH_FROM_BNTH), shape[1]
    if heads <= 0 or shape[-1] is None or shape[-1] % heads:
        raise unsupported_attr("num_heads", heads, f"a head count dividing {shape[-1]}")
    t = ctx.get(value)
    return ctx.layers.Reshape((-1, heads, shape[-1] // heads), name=ctx.unique(f"{value}_heads"))(t), heads


# Ops that keep every axis but the last: a projected sequence keeps its length through them.
_KEEP_STEPS = ("MatMul", "Add", "Sub", "Mul", "Div", "Identity", "Dropout", "LayerNormalization", "Gelu", "Relu")


def _origin(ctx: KerasContext, value: str) -> str:
    producers = ctx.graph.producers()
    while value in producers:
        n = producers[value]
        if n.op not in _KEEP_STEPS or any(ctx.weight(i) is None for i in n.inputs[1:] if i) or (
                n.op == "LayerNormalization" and int(attr(n, "axis")) != -1):
            break
        value = n.inputs[0]
    return value


def _same_length(ctx: KerasContext, q: str, k: str) -> bool:
    """Query and key sequences provably of one length: equal static sizes, one named
    symbolic size in the IR (a dynamic length both were computed from), or one source."""
    axis = 2 if len(ctx.ir_shape(q)) == 4 else 1
    a, b = ctx.ir_shape(q)[axis], ctx.ir_shape(k)[axis]
    if a is not None and a == b:
        return True
    infos = [ctx.graph.value_info(v) for v in (q, k)]
    if all(i is not None and i.shape is not None and len(i.shape) > axis for i in infos):
        sa, sb = (i.shape[axis] for i in infos)
        if isinstance(sa, str) and sa == sb:
            return True
    return axis == 1 and _origin(ctx, q) == _origin(ctx, k)


@register("Attention")
def export_attention(ctx: KerasContext, node):
    ops = ctx.keras.ops
    for name, value in extensions(node):
        raise unsupported_attr(name, value, "attention without a KV cache, windows or extra outputs")
    if float(attr(node, "softcap")):
        raise unsupported_attr("softcap", attr(node, "softcap"), "0 (no logit soft-capping)")
    q_in, k_in, v_in = node.inputs[:3]
    q, hq = _heads(ctx, q_in, int(attr(node, "q_num_heads")))
    k, hkv = _heads(ctx, k_in, int(attr(node, "kv_num_heads")))
    v, _ = _heads(ctx, v_in, int(attr(node, "kv_num_heads")))
    if hq % hkv:
        raise unsupported_attr("kv_num_heads", hkv, f"a divisor of the {hq} query heads")
    if hkv == 1 and hq > 1:  # Keras repeats K/V heads only when there are several
        k, v = ops.repeat(k, hq, axis=2), ops.repeat(v, hq, axis=2)
    causal = bool(attr(node, "is_causal"))
    if causal and not _same_length(ctx, q_in, k_in):
        # Keras' causal mask is upper-left aligned, the IR's lower-right: equal only here.
        raise unsupported_attr("is_causal", 1, "causal attention between sequences of one length")
    mask = bias = None
    if len(node.inputs) > 3 and node.inputs[3]:
        m = ctx.weight(node.inputs[3])
        m = np.asarray(m) if m is not None else ctx.get(node.inputs[3])
        if str(m.dtype) == "bool":
            mask = m
        else:
            bias = m
    scale = float(attr(node, "scale")) or None
    dk, dv = int(q.shape[-1]), int(v.shape[-1])
    if dk == dv:
        y = ops.dot_product_attention(q, k, v, bias=bias, mask=mask, scale=scale, is_causal=causal)
    else:  # Keras' symbolic dot_product_attention assumes the value's head size is the key's
        y = _einsum_attention(ops, q, k, v, bias, mask, scale or 1.0 / np.sqrt(dk), causal)
    if len(ctx.ir_shape(q_in)) == 4:
        ctx.put(node.outputs[0], y, BTNH_FROM_BNTH)
        return
    y = ctx.layers.Reshape((-1, hq * dv), name=ctx.name(node))(y)
    ctx.put(node.outputs[0], y, L.identity(3))


def _einsum_attention(ops, q, k, v, bias, mask, scale: float, causal: bool):
    """What Keras' TensorFlow backend computes, spelled in keras.ops (masked logits take
    its large negative value, -0.7 * float32 max)."""
    logits = ops.multiply(ops.einsum("btnh,bsnh->bnts", q, k), np.float32(scale))
    if bias is not None:
        logits = ops.add(logits, bias)
    if causal:  # lengths checked equal: the lower triangle of the (T, S) scores
        tri = ops.cast(ops.tril(ops.ones_like(logits)), "bool")
        mask = tri if mask is None else ops.logical_and(mask, tri)
    if mask is not None:
        logits = ops.where(mask, logits, np.float32(-0.7 * np.finfo(np.float32).max))
    return ops.einsum("bnts,bsnh->btnh", ops.softmax(logits, axis=-1), v)


@register("LayerNormalization")
def export_layer_normalization(ctx: KerasContext, node):
    rank = ctx.rank(node.inputs[0])
    first = int(attr(node, "axis")) % rank
    scale, shift = _const(ctx, node, 1, "Scale"), _const(ctx, node, 2, "B")
    norm_shape = tuple(ctx.ir_shape(node.inputs[0])[first:])
    if None in norm_shape or first == 0:
        raise unsupported_attr("axis", attr(node, "axis"), "normalised axes of known size, batch excluded")
    t = ctx.get(node.inputs[0])  # IR order: the normalised axes are the trailing Keras axes
    weights = [np.broadcast_to(scale, norm_shape)] + ([np.broadcast_to(shift, norm_shape)] if shift is not None else [])
    layer = ctx.layers.LayerNormalization(axis=list(range(first, rank)) if rank - first > 1 else -1,
                                          epsilon=float(attr(node, "epsilon")), center=shift is not None,
                                          name=ctx.name(node))
    ctx.put(node.outputs[0], ctx.call(layer, t, weights), L.identity(rank))


@register("GroupNormalization")
def export_group_normalization(ctx: KerasContext, node):
    scale, shift = _const(ctx, node, 1, "scale"), _const(ctx, node, 2, "B")
    t, have = ctx.raw(node.inputs[0])
    c = ctx.ir_shape(node.inputs[0])[1]
    groups = int(attr(node, "num_groups"))
    if c is None or c % groups:
        raise unsupported_attr("num_groups", groups, f"a divisor of the {c} channels")
    # Any layout: the layer takes the channel axis wherever it lies.
    layer = ctx.layers.GroupNormalization(groups=groups, axis=L.keras_axis(have, 1),
                                          epsilon=float(attr(node, "epsilon")), name=ctx.name(node))
    ctx.put(node.outputs[0], ctx.call(layer, t, [np.broadcast_to(scale, (c,)), np.broadcast_to(shift, (c,))]), have)
