"""The ONNX writer's table of each op's first opset (kept as data so a conversion does not
import onnx) against the installed onnx's operator schemas."""
from __future__ import annotations

from pathlib import Path

import pytest

defs = pytest.importorskip("onnx.defs")


def test_table_is_current():
    from convert.exporters.onnx import since

    assert Path(since.__file__).with_name("since_table.py").read_text() == since.generate(), (
        "run: python -m convert.exporters.onnx.since > convert/exporters/onnx/since_table.py")


def _by_schemas(op: str, opset: int) -> int | None:
    for v in range(opset, defs.onnx_opset_version() + 1):
        try:
            defs.get_schema(op, v, "")
            return v
        except defs.SchemaError:
            continue
    return None


def test_answers_as_the_schemas_do():
    from convert.exporters.onnx.since import onnx_since
    from convert.ir.optable import OPS

    ops = [name for name, spec in OPS.items() if spec.onnx]
    assert len(ops) > 100
    for op in ops:
        for opset in range(7, defs.onnx_opset_version() + 1):
            assert onnx_since(op, opset) == _by_schemas(op, opset), (op, opset)
    assert onnx_since("NoSuchOp", 17) is None
