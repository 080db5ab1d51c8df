"""The MXNet operator registry: ``@register("Convolution") def import_convolution(ctx, node)``."""
from ...registry import Registry

MXNET_OPS: Registry = Registry("mxnet importer")
register = MXNET_OPS.register
