"""Indexing, scattering and scans: the ops transformer and detection graphs use to pick,
place and accumulate elements. Indices are int64; negative ones count from the end."""
from . import declare
from .spec import Attr

declare("GatherElements", "indexing", "data indices", "output", attrs={"axis": Attr("int", 0)},
        doc="output[i][j][k] = data[indices[i][j][k]][j][k] for axis 0 (torch.gather)")
declare("GatherND", "indexing", "data indices", "output", attrs={"batch_dims": Attr("int", 0)},
        doc="the last axis of indices addresses the leading axes of data")
declare("ScatterElements", "indexing", "data indices updates", "output", attrs={
    "axis": Attr("int", 0),
    "reduction": Attr("str", "none", choices=("none", "add", "mul", "max", "min")),
}, doc="a copy of data with updates written (or reduced) at indices along axis")
declare("ScatterND", "indexing", "data indices updates", "output", attrs={
    "reduction": Attr("str", "none", choices=("none", "add", "mul", "max", "min")),
}, doc="a copy of data with updates written at the index tuples in the last axis of indices")
declare("CumSum", "indexing", "x", attrs={
    "axis": Attr("int"), "exclusive": Attr("int", 0), "reverse": Attr("int", 0),
}, doc="cumulative sum along axis; exclusive leaves out the element itself, reverse runs from the end")
declare("CumProd", "indexing", "x", attrs={
    "axis": Attr("int"), "exclusive": Attr("int", 0), "reverse": Attr("int", 0),
}, onnx=False, doc="""
    cumulative product along axis (ONNX opset 26); exclusive starts from 1 and leaves out the
    element itself, reverse runs from the end. The element type is kept (integers wrap).""")
declare("Einsum", "indexing", "Inputs*", "Output", attrs={"equation": Attr("str")},
        doc="Einstein summation (numpy.einsum) over the inputs")
declare("Trilu", "indexing", "input", "output", attrs={"upper": Attr("int", 1), "k": Attr("int", 0)},
        doc="keep the upper (or lower) triangle of the last two axes from diagonal k; zero the rest")
declare("Hardmax", "indexing", "input", "output", attrs={"axis": Attr("int", -1)},
        doc="1 at the first maximum along axis, 0 elsewhere")
declare("TensorScatter", "indexing", "past_cache update write_indices?", "present_cache", attrs={
    "axis": Attr("int", -2, "the sequence axis (not the batch axis 0)"),
    "mode": Attr("str", "linear", choices=("linear", "circular")),
}, doc="""
    a KV-cache update (ONNX opset 24): a copy of past_cache (B, ..., L, ...) with update
    (B, ..., S, ...), S <= L along axis, written for batch entry b at positions
    write_indices[b] + s (s < S) of axis; write_indices (int64, shape (B,)) is zero when
    absent. mode circular takes the position modulo L; linear needs it below L.""")


declare("OneHot", "indexing", "indices", "output", attrs={
    "depth": Attr("int", doc="number of classes: the size of the new axis"),
    "values": Attr("floats", doc="[off_value, on_value]"),
    "dtype": Attr("str", doc="IR dtype of the output (of values)"),
    "axis": Attr("int", -1, doc="where the new axis goes in the output; negative counts from its end"),
}, doc="""
    ONNX OneHot (opset 9 and 11) with depth and values known: the output has the rank of
    the integer indices plus one, the new axis of size depth at axis; an element is on_value
    where the index equals its position on that axis, off_value elsewhere. Negative indices
    count from the end of depth (i + depth); an index outside [-depth, depth - 1] gives a row
    of off_value. Integer values stay exact up to 2**53 (they are stored as floats).""")
