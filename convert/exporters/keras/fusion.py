"""The activations the Keras writer fuses into a Conv/Dense layer's ``activation=``."""
from __future__ import annotations

from ...ir.optable import attr_value
from ...passes.fuse_activation import Fusion

ACTIVATION_NAMES = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softplus": "softplus", "Softsign": "softsign",
               "HardSwish": "hard_swish", "Mish": "mish", "Exp": "exponential"}
SELU_DEFAULTS = (1.67326319217681884765625, 1.05070102214813232421875)


def fused_name(node) -> str | None:
    """The ``activation=`` string a Conv/Dense layer takes for this IR node, computing
    exactly what the stand-alone layer would, or None."""
    a = node.attrs
    if node.op in ACTIVATION_NAMES:
        return ACTIVATION_NAMES[node.op]
    if node.op == "Elu" and float(attr_value(node, "alpha")) == 1.0:
        return "elu"
    if node.op == "Selu" and (float(attr_value(node, "alpha")), float(attr_value(node, "gamma"))) == SELU_DEFAULTS:
        return "selu"
    if node.op == "Gelu" and attr_value(node, "approximate") == "none":
        return "gelu"
    if node.op == "Silu" and float(attr_value(node, "beta")) == 1.0:
        return "silu"
    if node.op == "Clip" and a.get("min") == 0.0 and a.get("max") in (None, 6.0):
        return "relu" if a.get("max") is None else "relu6"
    return None


FUSION = Fusion(lambda n: fused_name(n) is not None)
