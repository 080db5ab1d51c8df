"""Registry of Keras export handlers: ``handler(ctx, node)`` calls Keras layers on the
tensors ``ctx.get`` hands out and records the results with ``ctx.put``."""
from ...registry import Registry

KERAS_HANDLERS: Registry = Registry("keras exporter", ir_keys=True)
register = KERAS_HANDLERS.register
