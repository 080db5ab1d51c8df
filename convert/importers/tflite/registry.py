"""The LiteRT operator registry: ``@register("CONV_2D") def import_conv_2d(ctx, node)``."""
from ...registry import Registry

TFLITE_OPS: Registry = Registry("tflite importer")
register = TFLITE_OPS.register
