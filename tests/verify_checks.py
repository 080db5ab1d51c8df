"""Shared code of the verification tests: the report's JSON schema check, and a copy of
an ONNX file with one weight changed (what per-layer verification must catch)."""
from __future__ import annotations

import json
from pathlib import Path

import onnx
from onnx import numpy_helper

REPO = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((REPO / "schemas" / "verify-report.schema.json").read_text())


def validate_report(doc: dict) -> None:
    import jsonschema

    jsonschema.Draft202012Validator(SCHEMA).validate(doc)


def corrupt(src: Path, dst: Path, initializer: str, delta: float = 0.5, element: bool = False) -> None:
    """A copy of an ONNX file with one weight of one layer changed: the first output
    unit's weights (a single element with ``element``; one element may meet only zeros
    after a ReLU and change nothing)."""
    m = onnx.load(str(src))
    hit = [t for t in m.graph.initializer if t.name == initializer]
    assert hit, [t.name for t in m.graph.initializer]
    a = numpy_helper.to_array(hit[0]).copy()
    if element:
        a.flat[0] += delta
    else:
        a[0] += delta
    hit[0].CopyFrom(numpy_helper.from_array(a, initializer))
    onnx.save(m, str(dst))
