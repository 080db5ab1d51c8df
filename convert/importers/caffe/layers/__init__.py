"""Caffe layer handlers, one function per layer type, files by family."""
from . import activation, conv, io, norm, recurrent, shape  # noqa: F401
