"""Running IR graphs and ONNX models: shape inference, single-node evaluation and the
onnxruntime session runner, in one place for passes (through the caller), inspection,
exporters and verification.

Built on the ONNX exporter: an IR graph is run by exporting it to ONNX. Importing this
package imports no framework; onnx and onnxruntime are imported where they are used.
"""
