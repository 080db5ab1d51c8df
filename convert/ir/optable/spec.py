"""Typed op specifications: the single source of truth for every IR op."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ATTR_KINDS = ("int", "float", "str", "ints", "floats", "strs")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Attr:
    kind: str
    default: Any = REQUIRED
    doc: str = ""
    choices: tuple | None = None

    def __post_init__(self) -> None:
        if self.kind not in ATTR_KINDS:
            raise ValueError(f"unknown attribute kind {self.kind!r}")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Port:
    name: str
    optional: bool = False
    variadic: bool = False


@dataclass(frozen=True)
class OpSpec:
    name: str
    family: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    attrs: dict[str, Attr]
    doc: str
    onnx: bool = True  # an ONNX op of the same name and semantics exists
    # one tensor in, one out of the same shape, each element from its own input element
    # alone: commutes with any Transpose or Reshape (the transpose pass moves them through)
    elementwise_unary: bool = False
    # one data tensor in (weights aside), one out of its shape and dtype (softmax, norms):
    # a shape pass can pass the input on without computing the op
    same_shape: bool = False
    # accumulates over many elements (statistics, exponent sums): a half-precision export
    # (passes/precision.py) computes it in float32 between Casts where the target allows
    keep_fp32: bool = False

    @property
    def keeps_shape(self) -> bool:
        return self.elementwise_unary or self.same_shape

    @property
    def min_inputs(self) -> int:
        return sum(1 for p in self.inputs if not p.optional and not p.variadic) + (
            1 if any(p.variadic and not p.optional for p in self.inputs) else 0
        )

    @property
    def max_inputs(self) -> int | None:
        return None if any(p.variadic for p in self.inputs) else len(self.inputs)

    @property
    def max_outputs(self) -> int | None:
        return None if any(p.variadic for p in self.outputs) else len(self.outputs)

    def attr_default(self, name: str) -> Any:
        return self.attrs[name].default


def ports(text: str) -> tuple[Port, ...]:
    """'X W B?' -> ports; '?' marks optional, '*' variadic ('inputs*')."""
    out = []
    for tok in text.split():
        optional = tok.endswith("?")
        variadic = tok.endswith("*")
        out.append(Port(tok.rstrip("?*"), optional=optional, variadic=variadic))
    return tuple(out)
