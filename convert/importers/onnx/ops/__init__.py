"""ONNX op handlers, by op family. Importing this package registers them all."""
from . import attention, control, elementwise, indexing, nn, reduce, shape, symbolic  # noqa: F401
