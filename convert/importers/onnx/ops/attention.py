"""Attention (opset 23-25): Q, K, V, the mask, the KV cache (past/present key and value,
nonpad_kv_seqlen), the window bounds and the scores output, all kept on the IR op."""
from __future__ import annotations

from ..registry import register
from .common import ir_attrs


@register("Attention")
def import_attention(ctx, node):
    inputs = [ctx.x(i) for i in range(len(node.input))]
    while inputs and not inputs[-1]:
        inputs.pop()
    # softmax_precision: the IR computes softmax in float32 at least
    attrs = ir_attrs(ctx, "Attention", drop=("softmax_precision",))
    # optional outputs nothing reads are left unnamed (a cache nobody keeps is not computed)
    outs = [o if k == 0 or ctx.uses(k) else "" for k, o in enumerate(node.output)]
    while len(outs) > 1 and not outs[-1]:
        outs.pop()
    ir = ctx.b.node("Attention", inputs, attrs, name=node.name or node.op_type, outputs=outs)
    for o, v in zip(outs, ir):
        if o:
            ctx.bind(o, v)


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
