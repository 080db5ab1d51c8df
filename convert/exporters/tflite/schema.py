"""The LiteRT flatbuffer schema, generated Python shipped with ``ai-edge-litert``
(imported lazily: the exporter needs it, the rest of nnconvert does not)."""
from __future__ import annotations

from ...errors import UsageError


def schema():
    try:
        from ai_edge_litert import schema_py_generated as S
    except ModuleNotFoundError as e:
        raise UsageError("the tflite format needs the ai-edge-litert package "
                         "(pip install 'nnconvert[litert]')") from e
    return S


# IR dtype -> LiteRT TensorType name
TENSOR_TYPES = {"float32": "FLOAT32", "float16": "FLOAT16", "int32": "INT32", "int64": "INT64",
                "int8": "INT8", "uint8": "UINT8", "bool": "BOOL", "int16": "INT16", "float64": "FLOAT64"}
