"""The ONNX op registry: ``@register("Conv") def import_conv(ctx, node)``; ``since=`` is
the opset version from which a handler's reading of the op applies."""
from ...registry import Registry

ONNX_OPS: Registry = Registry("onnx importer")
register = ONNX_OPS.register
