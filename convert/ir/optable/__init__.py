"""The op table: every IR op declared once (inputs, outputs, attributes, semantics).

Validation, ``schemas/ir.schema.json``, the support matrix and the docs are all
generated from ``OPS``. Names follow ONNX where an ONNX op exists, so the ONNX
operator specification is the reference for those ops' semantics; values that
ONNX passes as constant inputs (axes, pads, shapes, scales) are attributes here,
which keeps the IR self-describing for non-ONNX exporters.
"""
from __future__ import annotations

from .spec import ATTR_KINDS, REQUIRED, Attr, OpSpec, Port, ports

OPS: dict[str, OpSpec] = {}


def declare(name: str, family: str, inputs: str, outputs: str = "Y", attrs: dict | None = None,
            doc: str = "", onnx: bool = True, elementwise_unary: bool = False, same_shape: bool = False,
            keep_fp32: bool = False) -> OpSpec:
    if name in OPS:
        raise RuntimeError(f"op {name!r} declared twice")
    spec = OpSpec(name, family, ports(inputs), ports(outputs), dict(attrs or {}), " ".join(doc.split()), onnx,
                  elementwise_unary, same_shape, keep_fp32)
    OPS[name] = spec
    return spec


def get(name: str) -> OpSpec:
    return OPS[name]


def attr_value(node, key: str):
    """A node's attribute, or the op table's default (None for a required one)."""
    value = node.attrs.get(key)
    if value is not None:
        return value
    spec = OPS[node.op].attrs[key]
    return None if spec.required else spec.default


# Importing the family modules fills OPS.
from . import activation, attention, conv, dynamic, elementwise, indexing, misc, norm, pool, quant, reduce, rnn, shape  # noqa: E402,F401

__all__ = ["OPS", "OpSpec", "Attr", "Port", "REQUIRED", "ATTR_KINDS", "declare", "get", "attr_value"]
