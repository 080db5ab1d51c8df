"""MultiHeadAttention and Attention: projections as MatMul/Add, the attention itself as one
IR ``Attention`` on (batch, steps, heads * dim) values, Keras' masks as its bool mask."""
from __future__ import annotations

import math

import numpy as np

from .. import layout as L
from .. import masks
from ....ir.graph import Value
from ..context import Call, KerasContext, Ref, symbolic, unsupported
from ..registry import register

# Keras 3 .keras files name MHA's sublayers; legacy .h5 weight names carry these words.
_PARTS = {"query": ("query_dense", "/query/"), "key": ("key_dense", "/key/"),
          "value": ("value_dense", "/value/"), "output": ("output_dense", "/attention_output/")}


def _part(call: Call, part: str) -> list[np.ndarray]:
    group, word = _PARTS[part]
    w = call.weights
    if group in w.parts:
        return [a.astype(np.float32) for a in w.parts[group].arrays]
    if w.names:
        return [a.astype(np.float32) for n, a in zip(w.names, w.arrays) if word in n]
    raise unsupported("weights", "unnamed", "MultiHeadAttention weights stored without their sublayer names")


def _project(ctx: KerasContext, call: Call, r: Ref, part: str, heads: int, dim: int, bias: bool) -> str:
    """(B, S, E) @ kernel (E, heads, dim) [+ bias (heads, dim)] -> (B, S, heads * dim)."""
    arrays = _part(call, part)
    e = r.shape[-1]
    if len(arrays) != 1 + int(bias) or arrays[0].shape != (e, heads, dim) or (bias and arrays[1].shape != (heads, dim)):
        raise unsupported("weights", [a.shape for a in arrays], f"{part} kernel ({e}, {heads}, {dim})")
    y = ctx.op("MatMul", ctx.get(r, L.identity(3)), ctx.const(f"{part}_kernel", arrays[0].reshape(e, heads * dim)),
               suffix=part)
    if bias:
        y = ctx.op("Add", y, ctx.const(f"{part}_bias", arrays[1].reshape(heads * dim)), suffix=f"{part}_bias")
    return y


def _and(ctx: KerasContext, a: str | None, b: str, suffix: str) -> str:
    return b if a is None else ctx.op("And", a, b, suffix=suffix)


def _score_mask(ctx: KerasContext, q_mask: str | None, kv_masks: list, extra: str | None) -> str | None:
    """A bool (B, Tq, Tkv) mask from a (B, Tq) query mask, (B, Tkv) key/value masks and an
    explicit (B, Tq, Tkv) mask, ANDed as Keras does; None when there is none."""
    m = extra
    if q_mask is not None:
        m = _and(ctx, m, ctx.op("Unsqueeze", q_mask, suffix="query_mask", axes=[2]), "mask_and_q")
    for i, kv in enumerate(kv_masks):
        if kv is not None:
            m = _and(ctx, m, ctx.op("Unsqueeze", kv, suffix=f"kv_mask{i}", axes=[1]), f"mask_and_kv{i}")
    return m


def _causal_ok(call: Call, q: Ref, kv: Ref) -> None:
    """Keras' causal mask is row >= col (upper-left); the IR's is_causal is that only when
    query and key lengths are equal."""
    if q is kv or (q.shape[1] is not None and q.shape[1] == kv.shape[1]):
        return
    raise unsupported("use_causal_mask", True, "causal attention between sequences of equal length only")


def _boolean(ctx: KerasContext, name: str) -> str:
    """Record that ``name`` is a boolean mask: an exporter decomposing Attention must tell
    a mask (True keeps) from an additive bias."""
    ctx.b.graph.values.setdefault(name, Value(name, "bool", None))
    return name


def _kw(call: Call, name: str) -> Ref | None:
    refs = call.kwargs.get(name)
    return refs[0] if refs else None


def _masked_rows_uniform(ctx: KerasContext, y: str, v: str, mask: str, causal: bool, key_axis: int = 1,
                         groups: int = 1) -> str:
    """Keras replaces masked scores by one large negative number, so a query row with no
    key left (padding, with the causal mask) weighs every key equally: its output is the
    mean of the values over all keys. The IR's Attention gives such a row 0 (ONNX: NaN),
    so the row is selected from that mean. ``y`` and ``v`` are (B, T, heads * dim)
    (``key_axis`` 1), or (B, heads, T, dim) (``key_axis`` 2) with ``groups`` query heads
    per key/value head; ``mask`` holds (..., Tq, Tkv) rows."""
    kept = ctx.op("Cast", mask, suffix="mask_float", to="float32")
    if causal:  # Keras ANDs its row >= col mask in before the softmax
        kept = ctx.op("Trilu", kept, suffix="mask_causal", upper=0)
    row = ctx.op("Cast", ctx.op("ReduceMax", kept, suffix="mask_row_any", axes=[-1], keepdims=1),
                 suffix="mask_row_kept", to="bool")
    mean = ctx.op("ReduceMean", v, suffix="value_mean", axes=[key_axis], keepdims=1)
    if groups > 1:  # (B, Hkv, 1, D) -> (B, Hkv * groups, 1, D): each key/value head serves `groups` query heads
        mean = ctx.op("Unsqueeze", mean, suffix="value_mean_heads", axes=[2])
        mean = ctx.op("Expand", mean, suffix="value_mean_groups", shape=[1, 1, groups, 1, 1])
        mean = ctx.op("Reshape", mean, suffix="value_mean_grouped", shape=[0, -1, 1, 0])
    return ctx.op("Where", row, y, mean, suffix="masked_rows")


@register("MultiHeadAttention", emits=("MatMul", "Add", "Attention", "Unsqueeze", "And", "Cast", "Trilu",
                                       "ReduceMax", "ReduceMean", "Where"))
def import_multi_head_attention(ctx: KerasContext, node: Call) -> list[Ref]:
    for key, ok in (("use_gate", False), ("sliding_window", None)):
        if node.get(key, ok) not in (ok,):
            raise unsupported(key, node.get(key))
    if node.options.get("return_attention_scores"):
        raise unsupported("return_attention_scores", True, "the attention output only")
    q = node.inputs[0]
    v = node.inputs[1] if len(node.inputs) > 1 else _kw(node, "value")
    k = node.inputs[2] if len(node.inputs) > 2 else (_kw(node, "key") or v)
    if v is None or any(r.rank != 3 for r in (q, k, v)):
        raise unsupported("inputs", [r.shape for r in (q, k, v) if r is not None], "(batch, steps, features) tensors")
    axes = node.get("attention_axes")
    if axes is not None and [int(a) % 3 for a in axes] != [1]:
        raise unsupported("attention_axes", axes, "the steps axis (1)")
    heads, dk = int(node.get("num_heads")), int(node.get("key_dim"))
    dv = int(node.get("value_dim") or dk)
    out_shape = node.get("output_shape")
    out_dim = q.shape[-1] if out_shape is None else (list(out_shape) if isinstance(out_shape, (list, tuple))
                                                     else [out_shape])
    if isinstance(out_dim, list):
        if len(out_dim) != 1:
            raise unsupported("output_shape", out_shape, "one output axis")
        out_dim = int(out_dim[0])
    bias = bool(node.get("use_bias", True))
    qp = _project(ctx, node, q, "query", heads, dk, bias)
    kp = _project(ctx, node, k, "key", heads, dk, bias)
    vp = _project(ctx, node, v, "value", heads, dv, bias)

    explicit = _kw(node, "attention_mask")
    extra = None
    if explicit is not None:
        extra = ctx.get(explicit, L.identity(explicit.rank))
        if explicit.dtype != "bool":
            extra = ctx.op("Cast", extra, suffix="attention_mask", to="bool")
    q_mask = ctx.get(_kw(node, "query_mask"), (0, 1)) if _kw(node, "query_mask") else q.mask
    v_mask = ctx.get(_kw(node, "value_mask"), (0, 1)) if _kw(node, "value_mask") else v.mask
    k_mask = ctx.get(_kw(node, "key_mask"), (0, 1)) if _kw(node, "key_mask") else (k.mask if k is not v else None)
    mask = _score_mask(ctx, q_mask, [v_mask, k_mask], extra)
    causal = bool(node.options.get("use_causal_mask"))
    if causal:
        _causal_ok(node, q, k)
    ins = [qp, kp, vp]
    if mask is not None:  # (B, Tq, Tkv) -> (B, 1, Tq, Tkv): one mask for every head
        ins.append(_boolean(ctx, ctx.op("Unsqueeze", mask, suffix="mask_heads", axes=[1])))
    y = ctx.node("Attention", ins, {"is_causal": int(causal), "scale": 1.0 / math.sqrt(dk),
                                    "q_num_heads": heads, "kv_num_heads": heads}, suffix="attention")[0]
    if mask is not None:
        y = _masked_rows_uniform(ctx, y, vp, mask, causal)
    arrays = _part(node, "output")
    if len(arrays) != 1 + int(bias) or arrays[0].shape != (heads, dv, out_dim):
        raise unsupported("weights", [a.shape for a in arrays], f"output kernel ({heads}, {dv}, {out_dim})")
    y = ctx.op("MatMul", y, ctx.const("output_kernel", arrays[0].reshape(heads * dv, out_dim)),
               suffix="output" if bias else "")
    if bias:
        y = ctx.op("Add", y, ctx.const("output_bias", arrays[1]))
    out = ctx.ref(y, (q.shape[0], q.shape[1], out_dim), L.identity(3))
    out.mask = q_mask  # Keras sets the query's mask on the output
    return [out]


@register("Attention", emits=("Attention", "Where", "Unsqueeze", "And"))
def import_attention(ctx: KerasContext, node: Call) -> list[Ref]:
    """Luong dot-product attention: softmax(scale * q k^T - 1e9 * masked) v, then the
    output zeroed where the query is masked."""
    if node.get("score_mode", "dot") != "dot":
        raise unsupported("score_mode", node.get("score_mode"), "'dot'")
    if node.options.get("return_attention_scores"):
        raise unsupported("return_attention_scores", True, "the attention output only")
    if len(node.inputs) not in (2, 3) or any(r.rank != 3 for r in node.inputs):
        raise unsupported("inputs", [r.shape for r in node.inputs], "[query, value(, key)] of rank 3")
    q, v = node.inputs[:2]
    k = node.inputs[2] if len(node.inputs) > 2 else v
    scale = 1.0
    if node.get("use_scale"):
        (s,) = node.take(())
        scale = float(s)
        if scale == 0.0:  # the IR reads 0 as 1/sqrt(d): a zero scale is refused, not guessed
            raise unsupported("scale", 0.0, "a non-zero learned scale")
    q_mask, v_mask = masks.of(ctx, node, 0), masks.of(ctx, node, 1)
    mask = _score_mask(ctx, None, [v_mask], None)
    causal = bool(node.options.get("use_causal_mask"))
    if causal:
        _causal_ok(node, q, k)
    ins = [ctx.get(r, L.identity(3)) for r in (q, k, v)]
    if mask is not None:  # Keras subtracts 1e9 from masked scores: an additive float mask
        big = ctx.const("mask_bias", np.asarray(-1e9, np.float32))
        zero = ctx.const("zero", np.zeros((), np.float32))
        ins.append(ctx.op("Unsqueeze", ctx.op("Where", mask, zero, big, suffix="mask_bias"), suffix="mask_heads",
                          axes=[1]))
    y = ctx.node("Attention", ins, {"is_causal": int(causal), "scale": scale, "q_num_heads": 1,
                                    "kv_num_heads": 1}, suffix="attention" if q_mask is not None else "")[0]
    if q_mask is not None:
        zero = ctx.const("zero", np.zeros((), np.float32))
        y = ctx.op("Where", ctx.op("Unsqueeze", q_mask, suffix="query_mask", axes=[2]), y, zero)
    out = ctx.ref(y, (q.shape[0], q.shape[1], v.shape[-1]), L.identity(3))
    out.mask = q_mask
    return [out]


BNTH_FROM_BTNH = (0, 2, 1, 3)  # keras.ops (B, T, heads, D) <-> IR 4-D (B, heads, T, D): its own inverse


def _shaped(ctx: KerasContext, r: Ref, perm: tuple) -> str:
    """``r`` in layout ``perm``, its shape recorded (an exporter decomposing Attention
    reads the head count and size from it)."""
    name = ctx.get(r, perm)
    shape = symbolic(r.shape, name)  # the batch is "batch", as the graph inputs name it
    info = ctx.b.graph.values.setdefault(name, Value(name, r.dtype or "float32", None))
    if info.shape is None:
        info.shape = tuple(shape[a] for a in perm)
    return name


def _causal_rows(ctx: KerasContext, m: str, mask: Ref, q: Ref) -> str:
    """A mask broadcast along the query axis, grown to one row per query, so that the
    causal triangle can be applied to it."""
    rows, t = mask.shape[-2] if mask.rank >= 2 else 1, q.shape[1]
    if rows == t and t is not None:
        return m
    if not isinstance(t, int):
        raise unsupported("mask", list(mask.shape), "with is_causal, a mask with a row per query or a static length")
    if mask.rank < 2:
        m = ctx.op("Unsqueeze", m, suffix="mask_row", axes=[0])
    return ctx.op("Expand", m, suffix="mask_rows", shape=[1] * (max(mask.rank, 2) - 2) + [t, 1])


@register("ops.DotProductAttention", emits=("Attention", "Cast", "Trilu", "ReduceMax", "ReduceMean", "Where",
                                            "Unsqueeze", "Expand", "Reshape"))
def import_op_dot_product_attention(ctx: KerasContext, node: Call) -> list[Ref]:
    """``keras.ops.dot_product_attention(q, k, v, bias, mask, scale, is_causal)`` on
    (B, T, heads, D) tensors; a bool mask keeps where True, a bias is added. A query row
    the mask (and the causal triangle) leaves no key gets the mean of the values, as in
    Keras (see ``_masked_rows_uniform``)."""
    if node.get("attn_logits_soft_cap") or node.options.get("attn_logits_soft_cap"):
        raise unsupported("attn_logits_soft_cap", node.get("attn_logits_soft_cap"), "none")
    q, k, v = (node.operands + [None] * 3)[:3]
    if not all(isinstance(r, Ref) and r.rank == 4 for r in (q, k, v)):
        raise unsupported("operands", len(node.operands), "query, key and value of rank 4 as positional arguments")
    hq, hkv = q.shape[2], k.shape[2]
    if hq is None or hkv is None or hq % hkv:
        raise unsupported("num_heads", [hq, hkv], "known head counts, key/value heads dividing the query heads")
    causal = bool(node.get("is_causal") or node.options.get("is_causal"))
    if causal:
        _causal_ok(node, q, k)
    ins = [_shaped(ctx, r, BNTH_FROM_BTNH) for r in (q, k, v)]
    mask, bias = _kw(node, "mask"), _kw(node, "bias")
    if mask is not None and bias is not None:
        raise unsupported("bias", "with a mask", "a mask or a bias")
    extra = mask or bias
    if extra is not None:
        m = ctx.get(extra, L.identity(extra.rank))
        m = ctx.op("Cast", m, suffix="mask", to="bool") if mask is not None and extra.dtype != "bool" else m
        ins.append(_boolean(ctx, m) if mask is not None else m)
    scale = node.options.get("scale", node.get("scale"))
    y = ctx.node("Attention", ins, {"is_causal": int(causal), "scale": float(scale or 0.0)})[0]
    if mask is not None:
        rows = _causal_rows(ctx, ins[3], mask, q) if causal else ins[3]
        y = _masked_rows_uniform(ctx, y, ins[2], rows, causal, key_axis=2, groups=hq // hkv)
    return [ctx.ref(y, (*q.shape[:3], v.shape[3]), BNTH_FROM_BTNH)]
