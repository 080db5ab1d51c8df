"""IR -> LiteRT (``.tflite``) flatbuffer, written directly; channels-last inside."""
from .export import save, to_tflite, unsupported
from .registry import TFLITE_HANDLERS
from .runner import runner

__all__ = ["to_tflite", "save", "unsupported", "runner", "TFLITE_HANDLERS"]
