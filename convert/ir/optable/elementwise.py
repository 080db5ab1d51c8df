"""Binary and n-ary element-wise ops with numpy broadcasting (residual connections)."""
from . import declare
from .spec import Attr

for _name, _doc in [
    ("Add", "a + b"), ("Sub", "a - b"), ("Mul", "a * b"), ("Div", "a / b"),
    ("Greater", "a > b (bool)"), ("Less", "a < b (bool)"), ("Equal", "a == b (bool)"),
    ("And", "logical and"), ("Or", "logical or"), ("Xor", "logical exclusive or"),
]:
    declare(_name, "elementwise", "A B", "C", doc=_doc)

for _name, _doc in [("Max", "element-wise maximum"), ("Min", "element-wise minimum"),
                    ("Sum", "element-wise sum"), ("Mean", "element-wise mean")]:
    declare(_name, "elementwise", "data*", "Y", doc=_doc + " of all inputs, broadcasting")

for _name, _doc in [("BitwiseAnd", "a & b"), ("BitwiseOr", "a | b"), ("BitwiseXor", "a ^ b")]:
    declare(_name, "elementwise", "A B", "C", onnx=False, doc=_doc + " on integers (ONNX from opset 18)")
declare("BitwiseNot", "elementwise", "X", onnx=False, doc="~x on integers (ONNX from opset 18)")
declare("BitShift", "elementwise", "X Y", "Z", attrs={
    "direction": Attr("str", choices=("LEFT", "RIGHT")),
}, onnx=False, doc="""
    x << y or x >> y on integers (ONNX opset 28): a signed right shift is arithmetic; a
    shift that is negative or at least the bit width gives -1 for a right shift of a
    negative x and 0 otherwise""")

declare("Where", "elementwise", "condition X Y", "output", doc="condition ? X : Y")
declare("Mod", "elementwise", "A B", "C", attrs={"fmod": Attr("int", 0)}, doc="""
    remainder; fmod=0: the sign of the divisor (Python %, integers only), fmod=1: the sign
    of the dividend (C fmod)""")
