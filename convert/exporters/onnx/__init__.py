"""ONNX exporter."""
from .export import DEFAULT_OPSET, MIN_OPSET, inference_opset, max_opset, save_onnx, to_onnx, unsupported_ops
from .registry import ONNX_HANDLERS

__all__ = ["to_onnx", "save_onnx", "max_opset", "inference_opset", "unsupported_ops", "DEFAULT_OPSET", "MIN_OPSET",
           "ONNX_HANDLERS"]
