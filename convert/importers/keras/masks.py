"""Keras' implicit sequence masks (``Embedding(mask_zero=True)``, ``Masking``).

Keras carries a bool (batch, steps) mask beside a tensor from layer to layer: a layer that
supports masking passes it on, a layer that consumes it (attention, pooling) changes its
result with it, and any other layer drops it. Each class's behaviour below was checked
against Keras 3's own outputs; a masked tensor reaching a class named nowhere here is
refused by name, so a mask is never lost where Keras would have used it.
"""
from __future__ import annotations

from .context import Call, KerasContext, Ref, unsupported

# Layers whose ``compute_mask`` returns their input's mask unchanged (supports_masking) and
# whose inference output ignores it (BatchNormalization reads it for training statistics only;
# Softmax reads it, so it is not here and is refused).
PASS = frozenset({
    "Dense", "Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "Activation",
    "ReLU", "LeakyReLU", "ELU", "PReLU", "LayerNormalization", "BatchNormalization",
    "UnitNormalization", "Rescaling", "Identity", "ActivityRegularization",
})
# Layers and operations that drop the mask in Keras 3 (merges do: their output carries none;
# convolutions do not support masking, and Keras warns that they destroy it).
DROP = frozenset({
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
    "ops.Add", "ops.Subtract", "ops.Multiply", "ops.Divide", "ops.TrueDivide",
    "Conv1D", "SeparableConv1D", "DepthwiseConv1D",
})
# Layers whose handler reads the mask itself (and sets its output's mask).
CONSUME = frozenset({"MultiHeadAttention", "Attention", "GlobalAveragePooling1D", "GlobalAvgPool1D",
                     "Embedding", "Masking", "ops.DotProductAttention"})


def propagate(call: Call, outs: list[Ref]) -> None:
    """Set the output masks of one layer call as Keras would, or refuse the layer."""
    masks = [r.mask for r in call.inputs if r.mask is not None]
    if call.kwargs.get("mask") and call.cls not in CONSUME:
        raise unsupported("mask", "passed to the call", f"{call.cls} with a mask is not reproduced")
    if not masks or call.cls in CONSUME or call.cls in DROP:
        return
    if call.cls in PASS and len(call.inputs) == 1:
        for r in outs:
            if r.rank >= 2 and r.shape[:2] == call.inputs[0].shape[:2]:
                r.mask = masks[0]
        return
    raise unsupported("mask", "from Embedding(mask_zero) or Masking",
                      f"a masked input reaches {call.cls}, whose use of the mask is not reproduced")


def of(ctx: KerasContext, call: Call, i: int = 0) -> str | None:
    """The mask of input ``i`` as a bool (B, T) IR value in Keras order; an explicit
    ``mask=`` argument of the call (recorded by Keras 3 for pooling) wins."""
    from . import layout as L

    given = call.kwargs.get("mask")
    if given:
        return ctx.get(given[i], L.identity(given[i].rank)) if i < len(given) else None
    return call.inputs[i].mask if i < len(call.inputs) else None


def as_float(ctx: KerasContext, mask: str, suffix: str = "maskf") -> str:
    return ctx.op("Cast", mask, suffix=suffix, to="float32")
