"""ONNX op handlers, by op family. Importing this package registers them all."""
from . import attention, control, dynamic, elementwise, indexing, nn, norm, quant, reduce, shape, symbolic  # noqa: F401
