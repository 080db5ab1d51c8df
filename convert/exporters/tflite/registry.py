"""Registry of LiteRT export handlers: ``handler(ctx, node)`` reads its operands with
``ctx.get`` (tensor indices in a chosen layout) and emits builtin operators with ``ctx.op``."""
from ...registry import Registry

TFLITE_HANDLERS: Registry = Registry("tflite exporter", ir_keys=True)
register = TFLITE_HANDLERS.register
