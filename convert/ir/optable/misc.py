"""Dense layers and ops that keep training-time meaning visible in the IR."""
from . import declare
from .spec import Attr

declare("Gemm", "dense", "A B C?", attrs={
    "alpha": Attr("float", 1.0), "beta": Attr("float", 1.0),
    "transA": Attr("int", 0), "transB": Attr("int", 0),
}, doc="Y = alpha*A'*B' + beta*C on 2-D A. Dense layers use transB=1 with B = (out, in).")
declare("MatMul", "dense", "A B", doc="numpy matmul (batched); Dense on N-d inputs is MatMul + Add.")
declare("Dropout", "regularization", "data", "output", attrs={
    "ratio": Attr("float", 0.5), "kind": Attr("str", "dropout", doc="dropout, spatial, gaussian_noise, ..."),
}, doc="identity at inference; kept in the IR so the source layer stays visible, removed by the optimiser.",
        elementwise_unary=True)
declare("CaffeArgMax", "reduce", "data", "output", attrs={
    "axis": Attr("int", None, "None: per sample over the flattened rest"),
    "top_k": Attr("int", 1), "out_max_val": Attr("int", 0),
}, onnx=False, doc="Caffe ArgMax: float indices (or values) of the top_k largest entries.")
