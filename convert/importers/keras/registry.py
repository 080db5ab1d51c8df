"""The Keras layer registry: Keras class name -> ``import_<layer>(ctx, call) -> list[Ref]``."""
from ...registry import Registry

KERAS_LAYERS = Registry("keras importer")
register = KERAS_LAYERS.register
