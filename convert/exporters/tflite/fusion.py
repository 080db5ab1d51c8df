"""The activations the LiteRT writer fuses into an op's fused_activation_function."""
from __future__ import annotations

from ...ir.optable import attr_value as attr
from ...passes.fuse_activation import PRODUCERS, Fusion

# LiteRT's ActivationFunctionType values its kernels apply as a clamp (a fused TANH is
# accepted by the schema but ignored by CONV_2D's kernels, so Tanh stays an operator)
RELU, RELU_N1_TO_1, RELU6 = 1, 2, 3


def clip_bounds(node) -> tuple[float | None, float | None]:
    lo, hi = attr(node, "min"), attr(node, "max")
    return (None if lo is None else float(lo)), (None if hi is None else float(hi))


def fused_code(node) -> int | None:
    """The fused-activation code computing ``node`` exactly, or None."""
    if node.op == "Relu":
        return RELU
    if node.op == "Clip":
        return {(0.0, 6.0): RELU6, (-1.0, 1.0): RELU_N1_TO_1, (0.0, None): RELU}.get(clip_bounds(node))
    return None


# LiteRT ops whose kernels apply a fused_activation_function, beyond the layers (CONCATENATION
# has the field, but its float kernel refuses any activation when the tensors are allocated)
FUSION = Fusion(lambda n: fused_code(n) is not None, PRODUCERS + ("Add", "Sub", "Mul", "Div"))
