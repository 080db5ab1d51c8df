"""Binary operators (elemwise_*, broadcast_*, legacy _Plus...), scalar forms, add_n and
unary math."""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ..context import NodeContext
from ..registry import register

_BINARY = {
    "Add": ("elemwise_add", "broadcast_add", "broadcast_plus", "_plus", "_Plus", "_add"),
    "Sub": ("elemwise_sub", "broadcast_sub", "broadcast_minus", "_minus", "_Minus", "_sub"),
    "Mul": ("elemwise_mul", "broadcast_mul", "_mul", "_Mul"),
    "Div": ("elemwise_div", "broadcast_div", "_div", "_Div"),
    "Max": ("broadcast_maximum", "_maximum", "_Maximum"),
    "Min": ("broadcast_minimum", "_minimum", "_Minimum"),
    "Pow": ("broadcast_power", "_power", "_Power"),
}
# scalar op -> (IR op, scalar first?)
_SCALAR = {
    "_plus_scalar": ("Add", False), "_PlusScalar": ("Add", False),
    "_minus_scalar": ("Sub", False), "_MinusScalar": ("Sub", False),
    "_rminus_scalar": ("Sub", True), "_RMinusScalar": ("Sub", True),
    "_mul_scalar": ("Mul", False), "_MulScalar": ("Mul", False),
    "_div_scalar": ("Div", False), "_DivScalar": ("Div", False),
    "_rdiv_scalar": ("Div", True), "_RDivScalar": ("Div", True),
    "_maximum_scalar": ("Max", False), "_MaximumScalar": ("Max", False),
    "_minimum_scalar": ("Min", False), "_MinimumScalar": ("Min", False),
    "_power_scalar": ("Pow", False), "_PowerScalar": ("Pow", False),
    "_rpower_scalar": ("Pow", True),
}
_UNARY = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "log": "Log", "sqrt": "Sqrt",
          "abs": "Abs", "negative": "Neg", "reciprocal": "Reciprocal", "softsign": "Softsign", "_copy": "Identity",
          "identity": "Identity", "erf": "Erf", "floor": "Floor", "ceil": "Ceil"}


def broadcast_shape(a: tuple, b: tuple) -> tuple:
    rank = max(len(a), len(b))
    a, b = (1,) * (rank - len(a)) + tuple(a), (1,) * (rank - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise UnsupportedAttributeError("shapes", (a, b), "do not broadcast")
    return tuple(out)


def _binary(op: str):
    def handler(node, ctx: NodeContext):
        ctx.out(op, [ctx.x(0), ctx.x(1)], broadcast_shape(ctx.shape(0), ctx.shape(1)))
    handler.__name__ = f"import_{op.lower()}"
    return handler


def _scalar(op: str, scalar_first: bool):
    def handler(node, ctx: NodeContext):
        c = ctx.weight("scalar", np.float32(ctx.float("scalar")))
        ins = [c, ctx.x(0)] if scalar_first else [ctx.x(0), c]
        ctx.out(op, ins, ctx.shape(0))
    handler.__name__ = f"import_{op.lower()}_scalar"
    return handler


def _unary(op: str):
    def handler(node, ctx: NodeContext):
        ctx.same(op)
    handler.__name__ = f"import_{op.lower()}"
    return handler


for _op, _names in _BINARY.items():
    register(*_names)(_binary(_op))
for _name, (_op, _first) in _SCALAR.items():
    register(_name)(_scalar(_op, _first))
for _name, _op in _UNARY.items():
    register(_name)(_unary(_op))


@register("square")
def import_square(node, ctx: NodeContext):
    ctx.out("Mul", [ctx.x(0), ctx.x(0)], ctx.shape(0))


@register("add_n", "ElementWiseSum", "_sum")
def import_add_n(node, ctx: NodeContext):
    shapes = [ctx.shape(i) for i in range(ctx.n_inputs)]
    out = shapes[0]
    for s in shapes[1:]:
        out = broadcast_shape(out, s)
    ctx.out("Sum", [ctx.x(i) for i in range(ctx.n_inputs)], out)
