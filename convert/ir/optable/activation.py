"""Activations (element-wise unless noted)."""
from . import declare
from .spec import Attr

for _name, _doc in [
    ("Relu", "max(x, 0)"),
    ("Sigmoid", "1 / (1 + exp(-x))"),
    ("Tanh", "tanh(x)"),
    ("Softplus", "log(1 + exp(x))"),
    ("Softsign", "x / (1 + |x|)"),
    ("HardSwish", "x * max(0, min(1, x/6 + 1/2))"),
    ("Abs", "|x|"),
    ("Exp", "e^x"),
    ("Log", "natural logarithm"),
    ("Sqrt", "square root"),
    ("Neg", "-x"),
    ("Reciprocal", "1/x"),
    ("Erf", "error function"),
    ("Floor", "round down"),
    ("Ceil", "round up"),
    ("Sin", "sine"),
    ("Cos", "cosine"),
    ("Not", "logical not"),
    ("Identity", "y = x; removed by the optimiser"),
    ("Tan", "tangent"), ("Asin", "arcsine"), ("Acos", "arccosine"), ("Atan", "arctangent"),
    ("Sinh", "hyperbolic sine"), ("Cosh", "hyperbolic cosine"), ("Asinh", "inverse hyperbolic sine"),
    ("Acosh", "inverse hyperbolic cosine"), ("Atanh", "inverse hyperbolic tangent"),
    ("Sign", "-1, 0 or 1"), ("Round", "round half to even"), ("IsNaN", "x is NaN (bool)"),
]:
    declare(_name, "activation", "X", doc=_doc, elementwise_unary=True)

declare("LeakyRelu", "activation", "X", attrs={"alpha": Attr("float", 0.01)}, doc="x if x >= 0 else alpha*x",
        elementwise_unary=True)
declare("Elu", "activation", "X", attrs={"alpha": Attr("float", 1.0)}, doc="x if x > 0 else alpha*(exp(x)-1)",
        elementwise_unary=True)
declare("Selu", "activation", "X", attrs={
    "alpha": Attr("float", 1.67326319217681884765625), "gamma": Attr("float", 1.05070102214813232421875),
}, doc="gamma * (x if x > 0 else alpha*(exp(x)-1))", elementwise_unary=True)
declare("Celu", "activation", "X", attrs={"alpha": Attr("float", 1.0)}, doc="max(0,x) + min(0, alpha*(exp(x/alpha)-1))",
        elementwise_unary=True)
declare("HardSigmoid", "activation", "X", attrs={"alpha": Attr("float", 0.2), "beta": Attr("float", 0.5)},
        doc="max(0, min(1, alpha*x + beta))", elementwise_unary=True)
declare("PRelu", "activation", "X slope", doc="""
    x if x >= 0 else slope*x; slope broadcasts against X (per channel: shape (C, 1, 1)
    for NCHW, or a scalar).""", same_shape=True)
declare("Gelu", "activation", "X", attrs={"approximate": Attr("str", "none", choices=("none", "tanh"))},
        doc="x * Phi(x); approximate='tanh' uses the tanh formula.", elementwise_unary=True)
declare("Silu", "activation", "X", attrs={"beta": Attr("float", 1.0)}, onnx=False,
        doc="x * sigmoid(beta*x) (Swish); exported to ONNX as Mul(X, Sigmoid(beta*X)).", elementwise_unary=True)
declare("Mish", "activation", "X", doc="x * tanh(softplus(x))", elementwise_unary=True)
declare("Clip", "activation", "X", attrs={"min": Attr("float", None), "max": Attr("float", None)},
        doc="clamp to [min, max]; a missing bound is open. ReLU6 is Clip(0, 6).", elementwise_unary=True)
declare("ThresholdedRelu", "activation", "X", attrs={"alpha": Attr("float", 1.0)}, doc="x if x > alpha else 0",
        elementwise_unary=True)
declare("Softmax", "activation", "X", attrs={"axis": Attr("int", -1)}, doc="softmax along one axis",
        same_shape=True, keep_fp32=True)
declare("LogSoftmax", "activation", "X", attrs={"axis": Attr("int", -1)}, doc="log of softmax along one axis",
        same_shape=True, keep_fp32=True)
declare("Pow", "activation", "X Y", doc="x ** y with broadcasting (ONNX Pow); Y is usually a scalar weight")
declare("IsInf", "activation", "X", attrs={"detect_negative": Attr("int", 1), "detect_positive": Attr("int", 1)},
        doc="x is +inf (detect_positive) or -inf (detect_negative) (bool)", elementwise_unary=True)
declare("Shrink", "activation", "input", "output", attrs={"bias": Attr("float", 0.0), "lambd": Attr("float", 0.5)},
        doc="x + bias if x < -lambd, x - bias if x > lambd, else 0", elementwise_unary=True)
