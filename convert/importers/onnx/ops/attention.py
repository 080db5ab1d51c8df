"""Attention (opset 23/24) without a KV cache: Q, K, V and the optional mask."""
from __future__ import annotations

from ....errors import UnsupportedAttributeError
from ..registry import register
from .common import ir_attrs

# KV-cache ports: the IR's Attention has none (see its op-table entry).
_CACHE_INPUTS = {4: "past_key", 5: "past_value", 6: "nonpad_kv_seqlen"}
_EXTRA_OUTPUTS = {1: "present_key", 2: "present_value", 3: "qk_matmul_output"}


@register("Attention")
def import_attention(ctx, node):
    for i, what in _CACHE_INPUTS.items():
        if ctx.has(i):
            raise UnsupportedAttributeError(what, node.input[i], "attention without a KV cache")
    for k, what in _EXTRA_OUTPUTS.items():
        if ctx.uses(k):
            raise UnsupportedAttributeError(what, node.output[k], "the attention output Y only")
    inputs = [ctx.x(i) for i in range(min(4, len(node.input))) if ctx.has(i) or i < 3]
    if ctx.has(3):
        m, k = ctx.shape(3), ctx.shape(1)
        kv_axis = -2 if ctx.rank(1) == 4 else 1
        if m is None or k is None or m[-1] != k[kv_axis]:
            # ONNX pads a shorter mask with "masked" up to the key length; the IR needs it whole
            raise UnsupportedAttributeError("attn_mask", m, "a mask as long as the keys")
    # softmax_precision: the IR computes softmax in float32 at least
    attrs = ir_attrs(ctx, "Attention", drop=("softmax_precision", "qk_matmul_output_mode"))
    return ctx.emit("Attention", inputs, attrs, outputs=[0])


@register("RotaryEmbedding")
def import_rotary_embedding(ctx, node):
    position_ids = [ctx.x(3)] if ctx.has(3) else []
    ctx.emit("RotaryEmbedding", [ctx.x(0), ctx.x(1), ctx.x(2), *position_ids], ir_attrs(ctx, "RotaryEmbedding"))


@register("LinearAttention")
def import_linear_attention(ctx, node):
    """chunk_size is a tuning hint with no effect on the result: dropped."""
    inputs = [ctx.x(i) for i in range(min(ctx.n_inputs(), 6))]
    while inputs and not inputs[-1]:
        inputs.pop()
    ctx.emit("LinearAttention", inputs, ir_attrs(ctx, "LinearAttention", drop=("chunk_size",)))
