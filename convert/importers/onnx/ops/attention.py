"""Attention (opset 23-25): Q, K, V, the mask, the KV cache (past/present key and value,
nonpad_kv_seqlen), the window bounds and the scores output, all kept on the IR op."""
from __future__ import annotations

from ....errors import UnsupportedAttributeError
from ..registry import register
from .common import ir_attrs

_HALF = ("float16", "bfloat16")


@register("Attention")
def import_attention(ctx, node):
    inputs = [ctx.x(i) for i in range(len(node.input))]
    while inputs and not inputs[-1]:
        inputs.pop()
    attrs = ir_attrs(ctx, "Attention", drop=("softmax_precision",))
    half = _half_softmax(ctx)
    if half:
        attrs["softmax_precision"] = half
    # optional outputs nothing reads are left unnamed (a cache nobody keeps is not computed)
    outs = [o if k == 0 or ctx.uses(k) else "" for k, o in enumerate(node.output)]
    while len(outs) > 1 and not outs[-1]:
        outs.pop()
    ir = ctx.b.node("Attention", inputs, attrs, name=node.name or node.op_type, outputs=outs)
    for o, v in zip(outs, ir):
        if o:
            ctx.bind(o, v)


def _half_softmax(ctx) -> str:
    """The half dtype the softmax runs in: ONNX computes it in the inputs' dtype unless
    softmax_precision names another; '' for float32 or wider (the IR's default)."""
    dtype = ctx.dtype(0)
    if dtype not in _HALF:
        return ""
    code = ctx.attr("softmax_precision")
    if code is None:
        return dtype
    from onnx import helper

    named = str(helper.tensor_dtype_to_np_dtype(int(code)))
    if named in ("float32", "float64"):
        return ""
    if named != dtype:
        raise UnsupportedAttributeError("softmax_precision", int(code), f"the inputs' {dtype}, float32 or float64")
    return dtype


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
