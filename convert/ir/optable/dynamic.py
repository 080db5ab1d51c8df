"""Ops whose output sizes depend on the input values, not only on the input shapes: the
IR records those sizes as unknown (a fresh symbolic dimension), and no shape rule may
claim to know them. Targets without dynamic shapes refuse these ops by name."""
from . import declare
from .spec import Attr

declare("NonZero", "dynamic", "X", doc="""
    Indices of the non-zero elements of X as an int64 (rank(X), N) tensor, row-major order
    (numpy.nonzero stacked); N depends on the data.""")
declare("Unique", "dynamic", "X", "Y indices? inverse_indices? output_counts?", attrs={
    "sorted": Attr("int", 1, "1: Y in ascending order; 0: in order of first occurrence"),
    "axis": Attr("int", None, "None: over the flattened input; else unique slices along axis"),
}, doc="""
    The distinct elements (or slices along axis) of X as Y; indices (int64): where each
    first occurs in X; inverse_indices (int64): for each element (slice) of X, its place
    in Y; output_counts (int64): how often each occurs. The length of Y along the unique
    axis depends on the data.""")
declare("NonMaxSuppression", "dynamic", "boxes scores", "selected_indices", attrs={
    "center_point_box": Attr("int", 0, "0: boxes are [y1, x1, y2, x2] (any corner order); 1: [x_c, y_c, w, h]"),
    "max_output_boxes_per_class": Attr("int", 0, "0: no box is kept (ONNX's default)"),
    "iou_threshold": Attr("float", 0.0, "a box is dropped when its IoU with a kept box is greater than this"),
    "score_threshold": Attr("float", None, "None: no score filter; else boxes scoring at most this are dropped"),
}, doc="""
    ONNX NonMaxSuppression. boxes (B, N, 4), scores (B, C, N). Per batch and class, boxes
    are visited by descending score (ties: lower box index first), dropped when their
    score is not above score_threshold or their IoU with an already kept box is above
    iou_threshold, and at most max_output_boxes_per_class are kept. selected_indices is
    int64 (K, 3) of [batch, class, box] in batch, class, then selection order; K depends
    on the data.""")
