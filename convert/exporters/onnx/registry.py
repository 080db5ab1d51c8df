"""Registry of ONNX export handlers: ``handler(ctx, node)`` emits ONNX nodes that compute
``node.outputs`` from ``node.inputs``. IR ops without a handler whose spec says
``onnx=True`` are exported as the ONNX op of the same name with the same attributes."""
from ...registry import Registry

ONNX_HANDLERS: Registry = Registry("onnx exporter", ir_keys=True)
register = ONNX_HANDLERS.register
