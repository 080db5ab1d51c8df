"""Attention: ONNX's own op from opset 23, MatMul/Softmax/MatMul before it."""
from __future__ import annotations

import math

from ...errors import UnsupportedAttributeError
from ...ir.optable import OPS
from ...ir.optable import attr_value as attr
from ...ir.optable.attention import EXTENDED_ATTRS, extensions
from .context import ONNX_DTYPE, OnnxContext
from .registry import register

HALF = ("float16", "bfloat16")


# the opset from which ONNX's Attention has each extension
_SINCE = {"nonpad_kv_seqlen": 24, "left_window_size": 25, "right_window_size": 25}


@register("Attention", since=23)
def export_attention(ctx: OnnxContext, node):
    used = extensions(node)
    if not used and len(node.inputs) > 3 and node.inputs[3] and not _mask_rows_match(ctx, node):
        # onnxruntime's kernel (1.23-1.32) rejects a mask broadcast along the query axis
        export_attention_decomposed(ctx, node)
        return
    for name, value in used:
        if ctx.opset < _SINCE.get(name, 23):
            raise UnsupportedAttributeError(name, value, f"needs opset >= {_SINCE[name]} (pass --opset {_SINCE[name]})")
    # a half softmax_precision is ONNX's default for half inputs: written by leaving it out
    keys = ("scale", "q_num_heads", "kv_num_heads", "softcap", "qk_matmul_output_mode",
            *(k for k in EXTENDED_ATTRS if k != "softmax_precision"))
    extra = {k: attr(node, k) for k in keys if attr(node, k) != OPS["Attention"].attr_default(k)}
    if _dtype(ctx, node.inputs[0]) in HALF and not attr(node, "softmax_precision"):
        extra["softmax_precision"] = ONNX_DTYPE["float32"]  # --precision: the softmax sums in float32
    ctx.emit("Attention", node.inputs, node.outputs, name=node.name, is_causal=attr(node, "is_causal"), **extra)


@register("Attention")
def export_attention_decomposed(ctx: OnnxContext, node):
    """softmax(scale * Q K^T + mask) V on 4-D heads; 3-D inputs are split into heads first."""
    for name, value in extensions(node):
        raise UnsupportedAttributeError(name, value, "plain attention below opset 23 (pass --opset 23 or newer)")
    n, ins = node.name, node.inputs
    dt = _dtype(ctx, ins[0])
    hq, hkv = attr(node, "q_num_heads"), attr(node, "kv_num_heads")
    # 3-D inputs carry their head counts as attributes, so unknown shapes (an importer
    # that records none) still decompose when the scale is explicit and no heads are grouped
    shapes_known = all(_has_shape(ctx, x) for x in ins[:3])
    three_d = _rank(ctx, ins[0]) == 3 if shapes_known else bool(hq and hkv)
    q, k, v = (_heads(ctx, x, h, f"{n}/{tag}") if three_d else x for x, h, tag in
               ((ins[0], hq, "q"), (ins[1], hkv, "k"), (ins[2], hkv, "v")))
    if shapes_known:
        qs, ks, vs = _shape4(ctx, ins[0], hq), _shape4(ctx, ins[1], hkv), _shape4(ctx, ins[2], hkv)
        if not isinstance(qs[1], int) or not isinstance(ks[1], int) or not isinstance(qs[3], int):
            raise UnsupportedAttributeError("shape", (qs, ks), "static head counts and head size")
        if qs[1] != ks[1]:
            k, v = (_repeat_heads(ctx, x, qs[1], ks[1], s[3], f"{n}/{tag}")
                    for x, s, tag in ((k, ks, "k"), (v, vs, "v")))
        scale = attr(node, "scale") or 1.0 / math.sqrt(qs[3])
    elif three_d and hq == hkv and attr(node, "scale"):
        scale = attr(node, "scale")
    else:
        _known_shape(ctx, ins[0])  # raises, naming the value whose shape is missing
    kt = ctx.emit("Transpose", [k], name=f"{n}/kt", perm=[0, 1, 3, 2])[0]
    s = ctx.emit("MatMul", [q, kt], name=f"{n}/qk")[0]
    s = ctx.emit("Mul", [s, ctx.const(scale, dt, "scale")], name=f"{n}/scaled")[0]
    cap = attr(node, "softcap")
    if cap:
        c = ctx.const(cap, dt, "softcap")
        t = ctx.emit("Tanh", [ctx.emit("Div", [s, c], name=f"{n}/capdiv")[0]], name=f"{n}/captanh")[0]
        s = ctx.emit("Mul", [t, c], name=f"{n}/capped")[0]
    if attr(node, "is_causal"):
        s = ctx.emit("Add", [s, _causal_bias(ctx, q, k, dt, n)], name=f"{n}/causal")[0]
    masked = len(ins) > 3 and ins[3]
    if masked:
        m = ins[3]
        if _dtype(ctx, m) == "bool":
            m = ctx.emit("Where", [m, ctx.const(0.0, dt, "zero"), ctx.const(-math.inf, dt, "neg_inf")],
                         name=f"{n}/bias")[0]
        s = ctx.emit("Add", [s, m], name=f"{n}/masked")[0]
    p = _softmax(ctx, s, dt, n)
    if masked:  # a row with every key masked gives 0, as ONNX and torch's math kernel define it
        p = ctx.emit("Where", [ctx.emit("IsNaN", [p], name=f"{n}/nan")[0], ctx.const(0.0, dt, "zero"), p],
                     name=f"{n}/safe")[0]
    if three_d:
        y = ctx.emit("MatMul", [p, v], name=f"{n}/pv")[0]
        y = ctx.emit("Transpose", [y], name=f"{n}/merge_t", perm=[0, 2, 1, 3])[0]
        ctx.emit("Reshape", [y, ctx.const([0, 0, -1], hint="shape")], node.outputs[:1], name=n)
    else:
        ctx.emit("MatMul", [p, v], node.outputs[:1], name=n)


def _mask_rows_match(ctx: OnnxContext, node) -> bool:
    q, m = ctx.graph.value_info(node.inputs[0]), ctx.graph.value_info(node.inputs[3])
    if q is None or m is None or q.shape is None or m.shape is None or len(m.shape) < 2:
        return False
    return m.shape[-2] == q.shape[-2 if len(q.shape) == 4 else 1]


def _softmax(ctx: OnnxContext, s: str, dt: str, n: str) -> str:
    """Softmax over the keys, in float32 for a half-precision graph (--precision): its
    exponent sum loses too much in 11 or 8 significand bits."""
    if dt not in HALF:
        return ctx.emit("Softmax", [s], name=f"{n}/softmax", axis=-1)[0]
    s = ctx.emit("Cast", [s], name=f"{n}/scores_fp32", to=ONNX_DTYPE["float32"])[0]
    p = ctx.emit("Softmax", [s], name=f"{n}/softmax", axis=-1)[0]
    return ctx.emit("Cast", [p], name=f"{n}/probs_{dt}", to=ONNX_DTYPE[dt])[0]


def _dtype(ctx: OnnxContext, value: str) -> str:
    info = ctx.graph.value_info(value)
    return info.dtype if info is not None else "float32"


def _known_shape(ctx: OnnxContext, value: str) -> tuple:
    info = ctx.graph.value_info(value)
    if info is None or info.shape is None:
        raise UnsupportedAttributeError("shape", value, "known shapes of Attention's inputs before opset 23")
    return tuple(info.shape)


def _has_shape(ctx: OnnxContext, value: str) -> bool:
    info = ctx.graph.value_info(value)
    return info is not None and info.shape is not None


def _rank(ctx: OnnxContext, value: str) -> int:
    return len(_known_shape(ctx, value))


def _shape4(ctx: OnnxContext, value: str, heads: int) -> tuple:
    """(B, H, S, D) of a 4-D value, or of a 3-D (B, S, H*D) one split into ``heads``."""
    shape = _known_shape(ctx, value)
    if len(shape) == 4:
        return shape
    d = shape[2] // heads if isinstance(shape[2], int) and heads else None
    return (shape[0], heads, shape[1], d)


def _heads(ctx: OnnxContext, x: str, heads: int, name: str) -> str:
    """(B, S, H*D) -> (B, H, S, D)."""
    split = ctx.emit("Reshape", [x, ctx.const([0, 0, heads, -1], hint="shape")], name=f"{name}_split")[0]
    return ctx.emit("Transpose", [split], name=f"{name}_heads", perm=[0, 2, 1, 3])[0]


def _repeat_heads(ctx: OnnxContext, x: str, hq: int, hkv: int, d, name: str) -> str:
    """(B, Hkv, S, D) -> (B, Hq, S, D), each K/V head serving Hq/Hkv consecutive query heads."""
    if not isinstance(d, int):
        raise UnsupportedAttributeError("head size", d, "a static head size for grouped heads")
    u = ctx.emit("Unsqueeze", [x, ctx.const([2], hint="axes")], name=f"{name}_group")[0]
    e = ctx.emit("Expand", [u, ctx.const([1, 1, hq // hkv, 1, 1], hint="shape")], name=f"{name}_expand")[0]
    return ctx.emit("Reshape", [e, ctx.const([0, hq, -1, d], hint="shape")], name=f"{name}_repeat")[0]


def _causal_bias(ctx: OnnxContext, q: str, k: str, dt: str, n: str) -> str:
    """(Sq, Skv) bias: 0 where key j <= query i, -inf elsewhere; lengths read at run time."""
    def positions(x: str, tag: str) -> str:
        size = ctx.emit("Gather", [ctx.emit("Shape", [x], name=f"{n}/{tag}_shape")[0], ctx.const(2, hint="axis2")],
                        name=f"{n}/{tag}_len", axis=0)[0]
        return ctx.emit("Range", [ctx.const(0, hint="zero_i"), size, ctx.const(1, hint="one_i")],
                        name=f"{n}/{tag}_pos")[0]

    rows = ctx.emit("Unsqueeze", [positions(q, "q"), ctx.const([1], hint="axes")], name=f"{n}/q_col")[0]
    allowed = ctx.emit("LessOrEqual", [positions(k, "k"), rows], name=f"{n}/allowed")[0]
    return ctx.emit("Where", [allowed, ctx.const(0.0, dt, "zero"), ctx.const(-math.inf, dt, "neg_inf")],
                    name=f"{n}/causal_bias")[0]


@register("RotaryEmbedding", since=23)
def export_rotary_embedding(ctx: OnnxContext, node):
    ctx.emit("RotaryEmbedding", node.inputs, node.outputs, name=node.name,
             **{k: int(attr(node, k)) for k in ("interleaved", "rotary_embedding_dim", "num_heads")})


@register("LinearAttention", since=27)
def export_linear_attention(ctx: OnnxContext, node):
    ctx.emit("LinearAttention", node.inputs, node.outputs, name=node.name, update_rule=attr(node, "update_rule"),
             **{k: attr(node, k) for k in ("q_num_heads", "kv_num_heads", "scale")})
