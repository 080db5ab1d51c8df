"""The Caffe layer registry: ``@register("Convolution") def import_convolution(ctx, node)``."""
from ...registry import Registry

CAFFE_LAYERS: Registry = Registry("caffe importer")
register = CAFFE_LAYERS.register
