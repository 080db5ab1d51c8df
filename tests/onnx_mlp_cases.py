"""A small ONNX MLP with seeded random weights (MatMul, Gemm with transB=1 and =0: the
torch exporter keeps such weights as transposed views of the IR's arrays), and its
onnxruntime output, the oracle of the tests that use it."""
from __future__ import annotations

import numpy as np


def mlp_model(d_in: int, d_mid: int, d_out: int, scale_mid: float = 1.0, batch: int = 3):
    """x (batch, d_in) -> MatMul+Add -> Relu -> Gemm(transB=1) -> Tanh -> Gemm -> y (batch, d_out);
    ``scale_mid`` scales one weight of the middle layer (1.01: the 1% change a check must see)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = (rng.standard_normal((d_in, d_mid)) / np.sqrt(d_in)).astype(np.float32)
    w2 = (rng.standard_normal((d_out, d_mid)) / np.sqrt(d_mid)).astype(np.float32)  # Gemm transB=1
    w3 = (rng.standard_normal((d_out, d_out)) / np.sqrt(d_out)).astype(np.float32)  # Gemm transB=0
    w2[d_out // 2, d_mid // 2] *= scale_mid
    b1, b3 = (0.1 * rng.standard_normal(n).astype(np.float32) for n in (d_mid, d_out))
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (w3, "w3"), (b3, "b3"))]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["m1"]), helper.make_node("Add", ["m1", "b1"], ["a1"]),
             helper.make_node("Relu", ["a1"], ["r1"]), helper.make_node("Gemm", ["r1", "w2"], ["g2"], transB=1),
             helper.make_node("Tanh", ["g2"], ["t2"]), helper.make_node("Gemm", ["t2", "w3", "b3"], ["y"])]
    g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, d_in])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, d_out])], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def ort_run(model, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]
