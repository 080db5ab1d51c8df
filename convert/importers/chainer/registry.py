"""The Chainer function registry: ``@register("ReLU") def import_relu(ctx, node)``, keyed by
the FunctionNode class name."""
from ...registry import Registry

CHAINER_FUNCTIONS: Registry = Registry("chainer importer")
register = CHAINER_FUNCTIONS.register
