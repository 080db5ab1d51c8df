"""Reductions and index ops."""
from . import declare
from .spec import Attr

for _name, _doc in [
    ("ReduceMean", "mean"), ("ReduceMax", "max"), ("ReduceMin", "min"), ("ReduceSum", "sum"),
    ("ReduceSumSquare", "sum of squares"), ("ReduceL1", "sum of |x|"), ("ReduceL2", "sqrt of sum of squares"),
    ("ReduceProd", "product"), ("ReduceLogSumExp", "log sum exp"),
]:
    declare(_name, "reduce", "data", "reduced", attrs={
        "axes": Attr("ints", None, "default: all axes"), "keepdims": Attr("int", 1),
    }, doc=f"{_doc} over axes", keep_fp32=_name not in ("ReduceMax", "ReduceMin"))  # sums accumulate

declare("ArgMax", "reduce", "data", "reduced", attrs={
    "axis": Attr("int", 0), "keepdims": Attr("int", 1), "select_last_index": Attr("int", 0),
}, doc="index of the maximum (int64)")
declare("TopK", "reduce", "X", "Values Indices", attrs={
    "k": Attr("int"), "axis": Attr("int", -1), "largest": Attr("int", 1), "sorted": Attr("int", 1),
}, doc="the k largest values and their int64 indices along axis")
declare("Det", "reduce", "X", attrs={}, doc="determinant of each square matrix in the last two axes")
