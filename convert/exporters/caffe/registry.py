"""Registry of Caffe export handlers, keyed by IR op: ``handler(ctx, node)`` appends
Caffe layers through ``ctx.add``."""
from ...registry import Registry

CAFFE_HANDLERS: Registry = Registry("caffe exporter", ir_keys=True)
register = CAFFE_HANDLERS.register
