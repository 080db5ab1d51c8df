"""Shape and data-movement ops. Constant operands are attributes in the IR."""
from . import declare
from .spec import Attr

declare("Concat", "shape", "inputs*", "concat_result", attrs={"axis": Attr("int")}, doc="join along axis")
declare("Split", "shape", "input", "outputs*", attrs={
    "axis": Attr("int", 0), "split": Attr("ints", None, "sizes; default equal parts"),
}, doc="split into len(outputs) parts along axis")
declare("Slice", "shape", "data", "output", attrs={
    "starts": Attr("ints"), "ends": Attr("ints"), "axes": Attr("ints", None), "steps": Attr("ints", None),
}, doc="numpy-style slicing; ends are clamped; INT64 max means 'to the end'")
declare("Flatten", "shape", "input", "output", attrs={"axis": Attr("int", 1)},
        doc="reshape to 2-D: (prod(shape[:axis]), prod(shape[axis:]))")
declare("Reshape", "shape", "data like?", "reshaped", attrs={
    "shape": Attr("ints"), "allowzero": Attr("int", 0),
    "like_axes": Attr("ints", None, "with the like input: one per output axis, the axis of like whose size it "
                      "takes at run time, or -1 where shape's entry applies"),
}, doc="""
    reshape; with allowzero=0 a 0 copies the input dimension at the same index, and one
    -1 is inferred. Importers write 0 for the (symbolic) batch dimension so it stays dynamic.
    Sizes known only at run time (a sequence length next to the batch) are read from the
    optional like input's shape (ONNX: Shape/Gather/Concat into Reshape's shape; torch:
    like.shape[i]); targets without run-time shapes refuse a Reshape that has one.""")
declare("SizeRange", "shape", "like", "output", attrs={
    "axis": Attr("int", doc="the axis of like whose size is the (exclusive) end"),
    "start": Attr("int", 0), "delta": Attr("int", 1),
    "dtype": Attr("str", "int64", choices=("int64", "int32", "float32")),
}, onnx=False, doc="""
    arange(start, like.shape[axis], delta): a range whose end is a size known at run time
    (torch.arange(x.size(1)) with a dynamic length). ONNX: Shape, Cast and Range; torch:
    torch.arange; targets without run-time shapes refuse it. A range of fixed bounds is a
    constant instead.""")
declare("Transpose", "shape", "data", "transposed", attrs={"perm": Attr("ints")}, doc="permute axes")
declare("Squeeze", "shape", "data", "squeezed", attrs={"axes": Attr("ints", None)}, doc="drop size-1 axes")
declare("Unsqueeze", "shape", "data", "expanded", attrs={"axes": Attr("ints")}, doc="insert size-1 axes")
declare("Pad", "shape", "data", "output", attrs={
    "pads": Attr("ints", doc="[x1_begin, ..., xn_begin, x1_end, ..., xn_end] over all axes; negative crops"),
    "mode": Attr("str", "constant", choices=("constant", "reflect", "edge", "wrap")),
    "value": Attr("float", 0.0),
}, doc="pad every axis")
declare("Resize", "shape", "X", attrs={
    "scales": Attr("floats", None, "one per axis (N and C included)"),
    "sizes": Attr("ints", None, "one per axis; exclusive with scales"),
    "mode": Attr("str", "nearest", choices=("nearest", "linear", "cubic")),
    "coordinate_transformation_mode": Attr("str", "half_pixel", choices=(
        "half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn",
        "half_pixel_symmetric", "tf_crop_and_resize")),
    "nearest_mode": Attr("str", "round_prefer_floor", choices=(
        "round_prefer_floor", "round_prefer_ceil", "floor", "ceil")),
    "cubic_coeff_a": Attr("float", -0.75),
    "exclude_outside": Attr("int", 0, "1: weights of samples outside the input are 0, the rest renormalised"),
    "antialias": Attr("int", 0, "1: linear/cubic widen their filter by 1/scale when downscaling"),
    "roi": Attr("floats", None, "tf_crop_and_resize: normalised starts, then ends, one per axis"),
    "extrapolation_value": Attr("float", 0.0, "tf_crop_and_resize: value where the source lies outside"),
}, doc="""
    Up/down-sampling (ONNX opset 19 semantics). The coordinate transformation mode is
    always explicit: torch nearest is (asymmetric, floor), torch bilinear
    align_corners=False is (half_pixel or pytorch_half_pixel), Keras UpSampling2D nearest
    is (asymmetric, floor).""")
declare("GridSample", "shape", "X grid", attrs={
    "mode": Attr("str", "linear", choices=("linear", "nearest", "cubic")),
    "padding_mode": Attr("str", "zeros", choices=("zeros", "border", "reflection")),
    "align_corners": Attr("int", 0),
}, onnx=False, doc="""
    Sample X (N, C, *spatial) at the normalised coordinates of grid (N, *out, len(spatial)),
    the last grid axis ordered x (width) first (ONNX opset 20 GridSample, torch grid_sample).""")
declare("AffineGrid", "shape", "theta", "grid", attrs={
    "size": Attr("ints", doc="(N, C, H, W) or (N, C, D, H, W) of the image the grid samples"),
    "align_corners": Attr("int", 0),
}, onnx=False, doc="""
    The sampling grid (N, H, W, 2) or (N, D, H, W, 3) of the affine maps theta (N, 2, 3) or
    (N, 3, 4) over normalised coordinates in [-1, 1], x (width) first; align_corners=0 puts
    them at pixel centres (ONNX opset 20 AffineGrid, torch affine_grid).""")
declare("Tile", "shape", "input", "output", attrs={"repeats": Attr("ints")}, doc="numpy.tile")
declare("Expand", "shape", "input shape?", "output", attrs={
    "shape": Attr("ints", None, "the target shape; absent when the shape input gives it at run time"),
}, doc="""
    broadcast to shape both ways, as ONNX Expand (a 1 keeps the input's size). The target
    shape is the attribute, or the int64 shape input when it is read from tensor values at
    run time (an ONNX graph input): the output sizes are then unknown until run time, and
    targets without run-time shapes refuse it.""")
declare("Gather", "shape", "data indices", "output", attrs={"axis": Attr("int", 0)},
        doc="take along axis (Embedding is Gather(weight, ids, axis=0))")
declare("DepthToSpace", "shape", "input", "output", attrs={
    "blocksize": Attr("int"), "mode": Attr("str", "DCR", choices=("DCR", "CRD")),
}, doc="rearrange channel blocks into spatial blocks (PixelShuffle is CRD)")
declare("SpaceToDepth", "shape", "input", "output", attrs={
    "blocksize": Attr("int"), "mode": Attr("str", "DCR", choices=("DCR", "CRD")),
}, doc="inverse of DepthToSpace in the same mode (PixelUnshuffle is CRD; ONNX has the mode from opset 28)")
declare("Cast", "shape", "input", "output", attrs={"to": Attr("str", doc="IR dtype name")}, doc="change dtype",
        elementwise_unary=True)
declare("BitCast", "shape", "input", "output", attrs={"to": Attr("str", doc="IR dtype name")}, onnx=False,
        doc="""the same bytes read as another element type of the same width (little endian; ONNX
        opset 26); the shape is kept.""", elementwise_unary=True)
declare("Constant", "shape", "", "output", attrs={"weight": Attr("str", doc="name of the weight tensor")},
        onnx=False, doc="the value of a named weight as a graph value (exported as an initializer)")
declare("Col2Im", "shape", "input", "output", attrs={
    "image_shape": Attr("ints", doc="spatial sizes of the image"), "block_shape": Attr("ints", doc="the block (kernel)"),
    "strides": Attr("ints", None), "pads": Attr("ints", None, "[begin..., end...]"), "dilations": Attr("ints", None),
}, onnx=False, doc="""
    Rearrange (N, C*prod(block), L) column blocks into (N, C, *image_shape), summing where
    blocks overlap (ONNX opset 18 Col2Im; torch fold).""")
declare("ReverseSequence", "shape", "input sequence_lens", "Y", attrs={
    "batch_axis": Attr("int", 1), "time_axis": Attr("int", 0),
}, doc="reverse the first sequence_lens[b] steps along time_axis of each batch entry b; the rest is kept")
