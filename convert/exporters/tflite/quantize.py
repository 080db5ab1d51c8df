"""Full int8 (``--quantize int8 --calibration inputs.npz``): the float subgraph, once built,
runs in LiteRT's interpreter on the calibration inputs (every tensor kept); each computed
tensor's observed range becomes its asymmetric int8 scale and zero point; weights become
symmetric per-output-channel int8, biases int32 at input scale x weight scale.

The interface stays float: a QUANTIZE after each input and a DEQUANTIZE before each
output. Ops LiteRT's int8 kernels require to keep their input's scale (pooling, reshapes,
padding, slicing) take it over; LOGISTIC/SOFTMAX/TANH get LiteRT's fixed output scales;
CONCATENATION/PACK inputs are requantized to the output's scale where they differ. Any
other op is refused by name before anything is written."""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np

from ...errors import Unsupported, UnsupportedError, UsageError
from .context import TFLiteContext, buffer_bytes

CALIBRATED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "MEAN", "SUM",
              "HARD_SWISH", "LEAKY_RELU", "RELU", "RELU6", "RELU_N1_TO_1", "CONCATENATION", "PACK"}
KEEPS_SCALE = {"MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "PAD", "PADV2",
               "STRIDED_SLICE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "REDUCE_MAX", "SPLIT", "UNPACK"}
FIXED = {"LOGISTIC": (1 / 256, -128), "SOFTMAX": (1 / 256, -128), "TANH": (1 / 128, 0)}
REQUANTIZED_INPUTS = {"CONCATENATION", "PACK"}
WEIGHT_AXIS = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0}


def load_calibration(path: str | Path | None, graph) -> dict[str, np.ndarray]:
    if not path:
        raise UsageError("--quantize int8 needs --calibration FILE.npz (arrays keyed by input name)")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: np.asarray(npz[k]) for k in npz.files}
    missing = [v.name for v in graph.inputs if v.name not in arrays]
    if missing:
        raise UsageError(f"{path}: no calibration array for input(s) {', '.join(missing)} (has {sorted(arrays)})")
    return {v.name: arrays[v.name] for v in graph.inputs}


def ranges(data: bytes, names: tuple[list[str], list[str]], calibration: dict) -> dict[int, tuple[float, float]]:
    """(min, max) of every float tensor over the calibration inputs, by tensor index."""
    from .runner import LiteRTModel

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "float.tflite"
        path.write_bytes(data)
        model = LiteRTModel(path, names)
        with warnings.catch_warnings():  # keeping every tensor is the point here
            warnings.simplefilter("ignore")
            interp, _, _ = model._session(calibration, True)
        found = {}
        for d in interp.get_tensor_details():
            if d["dtype"] != np.float32:
                continue
            try:
                arr = np.asarray(interp.get_tensor(d["index"]))
            except ValueError:  # not kept
                continue
            if arr.size:
                found[d["index"]] = (float(arr.min()), float(arr.max()))
        return found


def _qparams(lo: float, hi: float) -> tuple[float, int]:
    lo, hi = min(lo, 0.0), max(hi, 0.0)  # zero must be exact
    scale = (hi - lo) / 255.0 or 1.0
    return scale, int(np.clip(round(-128 - lo / scale), -128, 127))


class _Quantizer:
    def __init__(self, ctx: TFLiteContext, observed: dict):
        self.ctx, self.S, self.observed = ctx, ctx.S, observed
        self.params: dict[int, tuple[float, int]] = {}
        self.done: set[int] = set()

    def qp(self, scale, zero, axis: int = 0):
        q = self.S.QuantizationParametersT()
        q.scale = [float(s) for s in np.atleast_1d(scale)]
        q.zeroPoint = [int(z) for z in np.atleast_1d(zero)]
        q.quantizedDimension = axis
        return q

    def set_act(self, idx: int, scale: float, zero: int) -> None:
        t = self.ctx.tensors[idx]
        t.type = self.S.TensorType.INT8
        t.quantization = self.qp(scale, zero)
        self.params[idx] = (scale, zero)
        self.done.add(idx)

    def data(self, idx: int) -> np.ndarray | None:
        t = self.ctx.tensors[idx]
        if t.buffer == 0 or t.type != self.S.TensorType.FLOAT32:
            return None
        raw = np.asarray(buffer_bytes(self.ctx.buffers[t.buffer]), np.uint8)
        return raw.view(np.float32).reshape(t.shape)

    def store(self, idx: int, arr: np.ndarray, ttype: str, quant) -> None:
        t = self.ctx.tensors[idx]
        t.type = getattr(self.S.TensorType, ttype)
        t.quantization = quant
        b = self.S.BufferT()  # replaces a lazy float buffer too
        b.data = np.ascontiguousarray(arr).view(np.uint8).reshape(-1)
        self.ctx.buffers[t.buffer] = b
        self.done.add(idx)

    def const_act(self, idx: int, like: tuple[float, int] | None = None) -> None:
        """A float constant operand of an elementwise op: per-tensor int8 (its own range)."""
        if idx in self.done:
            return
        arr = self.data(idx)
        scale, zero = like or _qparams(float(arr.min()), float(arr.max()))
        q = np.clip(np.round(arr / scale) + zero, -128, 127).astype(np.int8)
        self.store(idx, q, "INT8", self.qp(scale, zero))
        self.params[idx] = (scale, zero)

    def weights(self, code: str, op) -> None:
        w_idx, b_idx = op.inputs[1], op.inputs[2] if len(op.inputs) > 2 else -1
        w = self.data(w_idx)
        axis = WEIGHT_AXIS[code]
        other = tuple(i for i in range(w.ndim) if i != axis)
        amax = np.max(np.abs(w), axis=other)
        scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
        shape = [1] * w.ndim
        shape[axis] = -1
        if w_idx not in self.done:
            q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
            self.store(w_idx, q, "INT8", self.qp(scale, np.zeros(scale.size, np.int64), axis))
        if b_idx >= 0 and b_idx not in self.done:
            s_in = self.params[op.inputs[0]][0]
            b = self.data(b_idx)
            bs = (s_in * scale).astype(np.float64)
            q = np.clip(np.round(b / bs), -2**31, 2**31 - 1).astype(np.int32)
            self.store(b_idx, q, "INT32", self.qp(bs, np.zeros(bs.size, np.int64)))

    def requantize(self, src: int, want: tuple[float, int], at: int, new_ops: list) -> int:
        """``src`` in the scale ``want``: itself, or a QUANTIZE (int8 -> int8) into a new tensor."""
        if self.params[src] == want:
            return src
        t = self.ctx.tensors[src]
        y = self.ctx.tensor(f"{t.name}/requant", t.shapeSignature if t.shapeSignature is not None else t.shape)
        self.set_act(y, *want)
        new_ops.append(self._op("QUANTIZE", [src], [y]))
        return y

    def _op(self, code: str, ins: list[int], outs: list[int]):
        before = len(self.ctx.operators)
        self.ctx.op(code, ins, outs)
        return self.ctx.operators.pop(before)


def _code(ctx: TFLiteContext, op) -> str:
    names = {v: k for k, v in vars(ctx.S.BuiltinOperator).items() if not k.startswith("_")}
    return names[ctx.opcodes[op.opcodeIndex].builtinCode]


def refused(ctx: TFLiteContext) -> list[Unsupported]:
    """Every operator without an int8 form here, by its output's name."""
    out = []
    for op in ctx.operators:
        code = _code(ctx, op)
        if code not in CALIBRATED | KEEPS_SCALE | set(FIXED):
            name = ctx.tensors[op.outputs[0]].name
            out.append(Unsupported(name, code, "quantize", "int8", "no int8 kernel handled by the int8 writer"))
    return out


def quantize(ctx: TFLiteContext, observed: dict[int, tuple[float, float]]) -> None:
    """Turn the float subgraph of ``ctx`` into int8 in place (float interface kept)."""
    problems = refused(ctx)
    if problems:
        raise UnsupportedError(problems, "tflite int8 quantization")
    qz = _Quantizer(ctx, observed)
    ops, ctx.operators = ctx.operators, []
    head: list = []
    inputs = [ctx.values[v.name][0] for v in ctx.graph.inputs]
    float_inputs = []
    for idx in inputs:  # the float interface: QUANTIZE into the int8 tensor the ops read
        f = _float_twin(ctx, idx, "float")
        qz.set_act(idx, *_qparams(*observed.get(idx, (0.0, 1.0))))
        head.append(qz._op("QUANTIZE", [f], [idx]))
        float_inputs.append(f)
    body: list = []
    for op in ops:
        code = _code(ctx, op)
        float_ins = [i for i in op.inputs if i >= 0 and ctx.tensors[i].type == ctx.S.TensorType.FLOAT32]
        for i in float_ins:  # constant float operands
            if i not in qz.done and ctx.tensors[i].buffer != 0 and code not in WEIGHT_AXIS:
                like = qz.params[op.inputs[0]] if code in KEEPS_SCALE else None
                qz.const_act(i, like)
        for o in op.outputs:
            if code in FIXED:
                qz.set_act(o, *FIXED[code])
            elif code in KEEPS_SCALE:
                qz.set_act(o, *qz.params[op.inputs[0]])
            else:
                qz.set_act(o, *_qparams(*observed.get(o, (0.0, 1.0))))
        if code in WEIGHT_AXIS:
            qz.weights(code, op)
        if code in REQUANTIZED_INPUTS:
            want = qz.params[op.outputs[0]]
            op.inputs = [qz.requantize(i, want, len(body), body) for i in op.inputs]
        body.append(op)
    tail = []
    outs = []
    for idx in ctx.outputs:
        f = _float_twin(ctx, idx, "dequant")
        tail.append(qz._op("DEQUANTIZE", [idx], [f]))
        outs.append(f)
    ctx.operators = head + body + tail
    ctx.outputs = outs
    ctx.file_inputs = float_inputs
    ctx.weight_bytes = sum(len(buffer_bytes(b)) for b in ctx.buffers if buffer_bytes(b) is not None)


def _float_twin(ctx: TFLiteContext, idx: int, tag: str) -> int:
    """A float tensor shaped as ``idx`` that takes over its place in the layout metadata."""
    t = ctx.tensors[idx]
    f = ctx.tensor(f"{t.name}/{tag}", t.shapeSignature if t.shapeSignature is not None else t.shape)
    if t.name in ctx.layouts:
        ctx.layouts[ctx.tensors[f].name] = ctx.layouts[t.name]
    return f
