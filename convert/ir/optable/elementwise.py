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

declare("Where", "elementwise", "condition X Y", "output", doc="condition ? X : Y")
declare("Mod", "elementwise", "A B", "C", attrs={"fmod": Attr("int", 0)}, doc="""
    remainder; fmod=0: the sign of the divisor (Python %, integers only), fmod=1: the sign
    of the dividend (C fmod)""")
