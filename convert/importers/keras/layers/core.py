"""Dense, Embedding, the inference-time identities and Rescaling."""
from __future__ import annotations

import numpy as np

from .. import layout as L
from ..context import Call, KerasContext, Ref, unsupported
from ..registry import register
from . import activations


def dense(ctx: KerasContext, call: Call, r: Ref) -> Ref:
    units = int(call.get("units"))
    if call.get("lora_rank"):
        raise unsupported("lora_rank", call.get("lora_rank"), "merge the LoRA weights before converting")
    if call.get("quantization_config") or call.get("dtype_policy_quantized"):
        raise unsupported("quantization_config", call.get("quantization_config"))
    use_bias = call.get("use_bias", True)
    kernel, *bias = call.take((r.shape[-1], units), *([(units,)] if use_bias else []))
    activations.check(call.get("activation"))
    if r.rank == 2:
        x, perm = ctx.get(r, L.identity(2)), L.identity(2)
        # The kernel stays (in, out) as stored (transB=0): no transposed copy of the weights.
        ins = [x, ctx.const("kernel", kernel)] + ([ctx.const("bias", bias[0])] if bias else [])
        y = ctx.node("Gemm", ins, {"transB": 0})[0]
    else:
        # Dense contracts the last Keras axis: any layout that keeps it last will do.
        x, perm = ctx.any(r)
        if perm[-1] != r.rank - 1:
            perm = L.identity(r.rank)
            x = ctx.get(r, perm)
        y = ctx.op("MatMul", x, ctx.const("kernel", kernel), suffix="matmul" if bias else "")
        if bias:
            y = ctx.op("Add", y, ctx.const("bias", bias[0]))
    y = activations.apply(ctx, y, perm, call.get("activation"))
    return ctx.ref(y, (*r.shape[:-1], units), perm)


@register("Dense", emits=("Add", "Gemm", "MatMul", *activations.ACTIVATION_OPS))
def import_dense(ctx: KerasContext, node: Call) -> list[Ref]:
    return [dense(ctx, node, node.inputs[0])]


def _dropout(ctx: KerasContext, call: Call, kind: str, ratio) -> list[Ref]:
    r = call.inputs[0]
    x, perm = ctx.any(r)
    y = ctx.node("Dropout", [x], {"ratio": float(ratio or 0.0), "kind": kind})[0]
    return [ctx.ref(y, r.shape, perm, r.dtype)]


@register("Dropout", emits=("Dropout",))
def import_dropout(ctx: KerasContext, node: Call) -> list[Ref]:
    return _dropout(ctx, node, "dropout", node.get("rate"))


@register("SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", emits=("Dropout",))
def import_spatial_dropout(ctx: KerasContext, node: Call) -> list[Ref]:
    return _dropout(ctx, node, "spatial", node.get("rate"))


@register("GaussianNoise", emits=("Dropout",))
def import_gaussian_noise(ctx: KerasContext, node: Call) -> list[Ref]:
    return _dropout(ctx, node, "gaussian_noise", node.get("stddev"))


@register("GaussianDropout", emits=("Dropout",))
def import_gaussian_dropout(ctx: KerasContext, node: Call) -> list[Ref]:
    return _dropout(ctx, node, "gaussian_dropout", node.get("rate"))


@register("AlphaDropout", emits=("Dropout",))
def import_alpha_dropout(ctx: KerasContext, node: Call) -> list[Ref]:
    return _dropout(ctx, node, "alpha_dropout", node.get("rate"))


@register("ActivityRegularization", "Identity", emits=("Identity",))
def import_identity(ctx: KerasContext, node: Call) -> list[Ref]:
    r = node.inputs[0]
    x, perm = ctx.any(r)
    return [ctx.ref(ctx.op("Identity", x), r.shape, perm, r.dtype)]


@register("Embedding", emits=("Cast", "Gather"))
def import_embedding(ctx: KerasContext, node: Call) -> list[Ref]:
    if node.get("lora_rank"):
        raise unsupported("lora_rank", node.get("lora_rank"))
    r = node.inputs[0]
    n, dim = int(node.get("input_dim")), int(node.get("output_dim"))
    (table,) = node.take((n, dim))
    ids, perm = ctx.any(r)
    if not r.dtype.startswith("int"):
        ids = ctx.op("Cast", ids, suffix="ids", to="int64")
    y = ctx.node("Gather", [ctx.const("embeddings", table), ids], {"axis": 0})[0]
    out = ctx.ref(y, (*r.shape, dim), (*perm, r.rank))
    if node.get("mask_zero"):  # id 0 is padding: Keras masks those steps downstream
        zero = ctx.b.weight(f"{node.path}/zero", np.zeros((), np.int64))
        ids = ctx.get(r, L.identity(r.rank))
        if r.dtype != "int64":
            ids = ctx.op("Cast", ids, suffix="mask_ids", to="int64")
        out.mask = ctx.op("Not", ctx.op("Equal", ids, zero, suffix="is_pad"), suffix="mask")
    return [out]


@register("Masking", emits=("Not", "Equal", "Cast", "ReduceMax", "Mul", "Squeeze"))
def import_masking(ctx: KerasContext, node: Call) -> list[Ref]:
    """Steps whose features all equal mask_value are masked and zeroed (Keras' Masking)."""
    r = node.inputs[0]
    x = ctx.get(r, L.identity(r.rank))
    value = ctx.const("mask_value", np.asarray(float(node.get("mask_value", 0.0)), np.float32))
    keep = ctx.op("Not", ctx.op("Equal", x, value, suffix="is_value"), suffix="differs")
    keep = ctx.op("Cast", keep, suffix="differs_f", to="float32")
    any_ = ctx.node("ReduceMax", [keep], {"axes": [r.rank - 1], "keepdims": 1}, suffix="any")[0]
    y = ctx.op("Mul", x, any_)
    out = ctx.ref(y, r.shape, L.identity(r.rank))
    mask = ctx.op("Squeeze", any_, suffix="mask_f", axes=[r.rank - 1])
    out.mask = ctx.op("Cast", mask, suffix="mask", to="bool")
    return [out]


def _per_channel(value, r: Ref, perm) -> np.ndarray:
    """A scalar, or a per-last-axis vector broadcast against the IR layout ``perm``."""
    a = np.asarray(value, dtype=np.float32)
    if a.ndim == 0 or a.size == 1:
        return a.reshape(())
    shape = [1] * r.rank
    shape[L.ir_axis(-1, perm)] = a.size
    return a.reshape(shape)


@register("Rescaling", emits=("Add", "Cast", "Mul"))
def import_rescaling(ctx: KerasContext, node: Call) -> list[Ref]:
    r = node.inputs[0]
    x, perm = ctx.any(r)
    if not r.dtype.startswith("float"):
        x = ctx.op("Cast", x, suffix="cast", to="float32")
    scale = node.get("scale", 1.0)
    offset = node.get("offset", 0.0)
    if isinstance(scale, dict) or isinstance(offset, dict):
        raise unsupported("scale", scale, "numbers or lists only")
    y = ctx.op("Mul", x, ctx.const("scale", _per_channel(scale, r, perm)), suffix="scale")
    y = ctx.op("Add", y, ctx.const("offset", _per_channel(offset, r, perm)))
    return [ctx.ref(y, r.shape, perm)]


@register("LayerScale", emits=("Mul",))
def import_layer_scale(ctx: KerasContext, node: Call) -> list[Ref]:
    """ConvNeXt's LayerScale (keras.applications): x * gamma over the last axis."""
    r = node.inputs[0]
    (gamma,) = node.take((r.shape[-1],))
    x, perm = ctx.any(r)
    return [ctx.ref(ctx.op("Mul", x, ctx.const("gamma", _per_channel(gamma, r, perm))), r.shape, perm)]
