"""Generate the JSON schema of ``graph.json`` from the op table (``schemas/ir.schema.json``)."""
from __future__ import annotations

import json

from .graph import DTYPES
from .optable import OPS

SCHEMA_ID = "https://nnconvert.dev/schemas/ir.schema.json"

_KIND = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "str": {"type": "string"},
    "ints": {"type": "array", "items": {"type": "integer"}},
    "floats": {"type": "array", "items": {"type": "number"}},
    "strs": {"type": "array", "items": {"type": "string"}},
}


def _node_schema(name: str) -> dict:
    spec = OPS[name]
    attrs = {}
    for a, s in spec.attrs.items():
        p = dict(_KIND[s.kind])
        if s.choices:
            p["enum"] = list(s.choices)
        if s.doc:
            p["description"] = s.doc
        attrs[a] = p
    required = sorted(a for a, s in spec.attrs.items() if s.required)
    inputs = {"type": "array", "items": {"type": "string"}, "minItems": spec.min_inputs}
    if spec.max_inputs is not None:
        inputs["maxItems"] = spec.max_inputs
    return {
        "description": spec.doc,
        "type": "object",
        "properties": {
            "op": {"const": name},
            "inputs": inputs,
            "attrs": {"type": "object", "properties": attrs, "required": required, "additionalProperties": False},
        },
    }


def build_schema() -> dict:
    value = {
        "type": "object",
        "required": ["name", "dtype", "shape"],
        "properties": {
            "name": {"type": "string"},
            "dtype": {"enum": list(DTYPES)},
            "shape": {"oneOf": [{"type": "null"}, {"type": "array", "items": {"type": ["integer", "string"]}}]},
        },
        "additionalProperties": False,
    }
    node = {
        "type": "object",
        "required": ["op", "name", "inputs", "outputs", "attrs"],
        "properties": {
            "op": {"enum": sorted(OPS)},
            "name": {"type": "string"},
            "inputs": {"type": "array", "items": {"type": "string"}},
            "outputs": {"type": "array", "items": {"type": "string"}},
            "attrs": {"type": "object"},
            "source": {
                "type": "object",
                "required": ["framework", "layer_type", "layer_name"],
                "properties": {k: {"type": "string"} for k in ("framework", "layer_type", "layer_name")},
                "additionalProperties": False,
            },
        },
        "additionalProperties": False,
        "allOf": [{"if": {"properties": {"op": {"const": n}}}, "then": {"$ref": f"#/$defs/op_{n}"}} for n in sorted(OPS)],
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "nnconvert IR graph (graph.json)",
        "type": "object",
        "required": ["format", "version", "name", "inputs", "outputs", "nodes", "weights"],
        "properties": {
            "format": {"const": "nnir"},
            "version": {"const": 1},
            "name": {"type": "string"},
            "inputs": {"type": "array", "items": {"$ref": "#/$defs/value"}},
            "outputs": {"type": "array", "items": {"$ref": "#/$defs/value"}},
            "values": {"type": "array", "items": {"$ref": "#/$defs/value"}},
            "nodes": {"type": "array", "items": {"$ref": "#/$defs/node"}},
            "weights": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["dtype", "shape"],
                "properties": {"dtype": {"enum": list(DTYPES)}, "shape": {"type": "array", "items": {"type": "integer"}}},
            }},
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "additionalProperties": False,
        "$defs": {"value": value, "node": node, **{f"op_{n}": _node_schema(n) for n in sorted(OPS)}},
    }


def schema_text() -> str:
    return json.dumps(build_schema(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":  # python -m convert.ir.schema > schemas/ir.schema.json
    print(schema_text(), end="")
