"""Reading Caffe files: text prototxt (unknown fields reported), binary caffemodel
(weights read zero-copy), legacy V1 `layers` upgraded, TEST-phase filtering."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...errors import ModelLoadError
from . import wire

# Legacy V1 enum name -> current type string (Caffe's UpgradeV1LayerType).
V1_TYPES = {
    "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL", "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution", "DATA": "Data",
    "DECONVOLUTION": "Deconvolution", "DROPOUT": "Dropout", "DUMMY_DATA": "DummyData",
    "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise", "EXP": "Exp", "FLATTEN": "Flatten",
    "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output", "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col",
    "IMAGE_DATA": "ImageData", "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct", "LRN": "LRN",
    "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss", "MVN": "MVN",
    "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "SILENCE": "Silence", "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice", "TANH": "TanH",
    "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold",
}
# *_param fields shared by V1LayerParameter and LayerParameter (same message types).
_V1_PARAMS = ("accuracy_param", "argmax_param", "concat_param", "convolution_param", "data_param",
              "dropout_param", "eltwise_param", "exp_param", "inner_product_param", "lrn_param", "mvn_param",
              "pooling_param", "power_param", "relu_param", "sigmoid_param", "softmax_param", "slice_param",
              "tanh_param", "threshold_param", "transform_param", "loss_param")


def pb2():
    from ...caffe_proto import caffe_pb2

    return caffe_pb2


@dataclass
class CaffeNet:
    """A parsed net: the NetParameter (layers upgraded to `layer`), the raw blobs of
    each layer by layer name, and what parsing noticed."""

    net: object
    blobs: dict[str, list] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _text_parser(unknown: list[str]):
    """A text_format parser that skips unknown fields and records where they were."""
    from google.protobuf import text_format

    base = getattr(text_format, "_Parser", None)
    if base is None or not hasattr(base, "_SkipFieldContents"):
        return None

    class _Recording(base):  # type: ignore[misc,valid-type]
        _depth = 0

        def _SkipFieldContents(self, tokenizer, field_name, immediate_message_type):
            if self._depth == 0:
                line = getattr(tokenizer, "_previous_line", None)
                col = getattr(tokenizer, "_previous_column", None)
                where = f" (line {line + 1}, column {col + 1})" if line is not None and col is not None else ""
                unknown.append(f"unknown field {immediate_message_type}.{field_name}{where} ignored")
            self._depth += 1
            try:
                return super()._SkipFieldContents(tokenizer, field_name, immediate_message_type)
            finally:
                self._depth -= 1

    return _Recording(allow_unknown_field=True)


def parse_prototxt(path: str) -> CaffeNet:
    from google.protobuf import text_format

    from ...limits import MAX_TEXT_BYTES

    try:
        if Path(path).stat().st_size > MAX_TEXT_BYTES:
            raise ModelLoadError(path, f"a prototxt over {MAX_TEXT_BYTES} bytes (a caffemodel? pass it as --weights)")
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise ModelLoadError(path, f"cannot read: {e.strerror or e}") from None
    net = pb2().NetParameter()
    unknown: list[str] = []
    parser = _text_parser(unknown)
    try:
        if parser is not None:
            parser.ParseLines(text.split("\n"), net)
        else:  # protobuf without the private parser class: skip without positions
            text_format.Parse(text, net, allow_unknown_field=True)
    except RecursionError:
        raise ModelLoadError(path, "malformed prototxt: nesting too deep") from None
    except text_format.ParseError as e:
        line, col = e.GetLine(), e.GetColumn()
        msg = str(e)
        if line is not None and not msg.startswith(f"{line}:"):
            msg = f"{line}:{col} : {msg}"
        raise ModelLoadError(path, f"malformed prototxt at line {line}, column {col}: {msg}") from None
    out = CaffeNet(net, warnings=[f"{path}: {u}" for u in unknown])
    _upgrade_v1(out)
    return out


def parse_caffemodel(path: str) -> CaffeNet:
    from google.protobuf.message import DecodeError

    try:
        buf = Path(path).read_bytes()
    except OSError as e:
        raise ModelLoadError(path, f"cannot read: {e.strerror or e}") from None
    if buf[:1] in (b"n", b"l", b"i", b"#") and b"{" in buf[:4096]:
        raise ModelLoadError(path, "this looks like a text prototxt, not a binary caffemodel")
    try:
        stripped, new_blobs, v1_blobs = wire.split_net(buf)
    except (wire.WireError, IndexError) as e:
        raise ModelLoadError(path, f"not a valid caffemodel (protobuf wire format): {e}") from None
    net = pb2().NetParameter()
    try:
        net.ParseFromString(stripped)
    except (DecodeError, RuntimeError, ValueError) as e:  # RuntimeError: recursion limit
        raise ModelLoadError(path, f"not a valid caffemodel: {e}") from None
    out = CaffeNet(net)
    for layer, blobs in zip(net.layer, new_blobs):
        out.blobs[layer.name] = blobs
    for layer, blobs in zip(net.layers, v1_blobs):
        out.blobs[layer.name] = blobs
    _upgrade_v1(out)
    return out


def _upgrade_v1(cn: CaffeNet) -> None:
    """Rewrite legacy V1 `layers` as `layer` entries (Caffe's UpgradeV1Net)."""
    net = cn.net
    if not len(net.layers):
        return
    if len(net.layer):
        raise ModelLoadError(net.name or "net", "the net mixes `layer` and legacy `layers` entries")
    enum = pb2().V1LayerParameter.LayerType
    for old in net.layers:
        new = net.layer.add()
        new.name = old.name
        new.type = V1_TYPES.get(enum.Name(old.type), enum.Name(old.type)) if old.HasField("type") else ""
        new.bottom.extend(old.bottom)
        new.top.extend(old.top)
        new.include.extend(old.include)
        new.exclude.extend(old.exclude)
        new.blobs.extend(old.blobs)
        for p in _V1_PARAMS:
            if old.HasField(p):
                getattr(new, p).CopyFrom(getattr(old, p))
    del net.layers[:]


def in_test_phase(layer) -> bool:
    """Caffe's StateMeetsRule for the TEST phase (level 0, no stages)."""

    def meets(rule) -> bool:
        if rule.HasField("phase") and rule.phase != 1:
            return False
        if rule.HasField("min_level") and 0 < rule.min_level:
            return False
        if rule.HasField("max_level") and 0 > rule.max_level:
            return False
        return not len(rule.stage)  # the TEST net has no stages

    if len(layer.include):
        return any(meets(r) for r in layer.include)
    return not any(meets(r) for r in layer.exclude)
