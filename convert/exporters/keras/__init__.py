"""IR -> Keras 3: a functional model of built-in layers, channels-last inside."""
from .export import save, to_keras, unsupported
from .registry import KERAS_HANDLERS

__all__ = ["to_keras", "save", "unsupported", "KERAS_HANDLERS"]
