"""The context LiteRT export handlers build one subgraph through: tensors, constant
buffers, operator codes, and the layout each IR value is stored in.

A stored tensor stands for an IR value through a permutation ``perm`` (stored =
``numpy.transpose(ir_value, perm)``), as in the Keras writer: layout-sensitive ops ask
for channels-last and get it for free when the value already is; constants are laid out
offline; a TRANSPOSE operator is emitted only when a computed value must change layout,
and counted (``ctx.transposes``)."""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from ...errors import UnsupportedAttributeError
from ...ir.graph import Graph, Node
from ...ir.optable import attr_value as attr  # noqa: F401  (re-exported for the handlers)
from ...ir.perm import Perm, identity
from ...memory import returned_copy
from ...naming import fresh
from ..channels_last import channels_last, relayout  # noqa: F401  (channels_last re-exported)
from .fusion import fused_code
from .schema import TENSOR_TYPES, schema

# --precision / --quantize: how float weights are stored, and the (rtol, atol) a file
# storing them so is verified with by default (dynamic-int8 also quantizes activations
# per batch inside its kernels: errors are a few percent of the output's scale)
WEIGHT_MODES = {"fp32": None, "fp16": (1e-2, 1e-2), "dynamic-int8": (5e-2, 1e-1), "int8": (1e-1, 1e-1)}


_LAZY: dict = {}


def lazy_buffer(S, make):
    """A BufferT whose bytes ``make()`` computes when the model is packed and that drops
    them right after: transposed weights never exist all at once beside the IR's."""
    if "type" not in _LAZY:
        class LazyBufferT(S.BufferT):
            def Pack(self, builder):
                if self.offset:  # stored after the flatbuffer (export._stream)
                    return super().Pack(builder)
                self.data = self.bytes()
                try:
                    return super().Pack(builder)
                finally:
                    self.data = None

            def bytes(self) -> np.ndarray:
                return self.make().view(np.uint8).reshape(-1)

        _LAZY["type"] = LazyBufferT
    b = _LAZY["type"]()
    b.make = make
    return b


def digest(arr: np.ndarray, chunk: int = 2**20) -> bytes:
    """A content hash of ``arr`` (often a transposed view of a weight) read in slices of at
    most about ``chunk`` bytes: no whole contiguous copy is made just to compare constants."""
    h = hashlib.blake2b(digest_size=16)
    lead = 0  # leading axes iterated so that each slice is small
    while lead < arr.ndim and int(np.prod(arr.shape[lead:], dtype=np.int64)) * arr.itemsize > chunk:
        lead += 1
    for idx in np.ndindex(*arr.shape[:lead]):
        h.update(np.ascontiguousarray(arr[idx]).view(np.uint8).reshape(-1))
    return h.digest()


def buffer_bytes(b) -> np.ndarray | None:
    """The uint8 contents of a buffer, lazy or not."""
    return b.bytes() if getattr(b, "make", None) is not None and b.data is None else b.data


# Builtins whose kernels are registered from a version past 1 (the interpreter finds no version 1).
_FIRST_VERSION = {"BROADCAST_TO": 2}


def unsupported_attr(attribute: str, value: Any, hint: str = "") -> UnsupportedAttributeError:
    return UnsupportedAttributeError(attribute, value, hint)


def dims_of(shape) -> list[int]:
    """Stored dims with -1 for every dynamic or unknown one."""
    return [d if isinstance(d, (int, np.integer)) and d >= 0 else -1 for d in shape]


def keeps_order(perm: Perm, shape) -> bool:
    """Whether the stored tensor's elements are in IR (row-major) order: the axes that
    are not 1, read in storage order, are in IR order. A reshape then needs no transpose."""
    big = [p for p in perm if shape[p] != 1]
    return big == sorted(big)


class TFLiteContext:
    def __init__(self, graph: Graph, shapes: dict, fused: dict[str, Node] | None = None,
                 weights: str = "fp32"):
        self.S = schema()
        self.graph = graph
        self.shapes = shapes
        self._fusable = fused or {}  # value -> the activation node its op absorbs
        self.weight_mode = weights
        self.tensors: list = []
        self.buffers: list = [self.S.BufferT()]  # buffer 0: the empty one every computed tensor uses
        self.operators: list = []
        self.opcodes: list = []
        self._opcode: dict[int, int] = {}
        self.values: dict[str, tuple[int, Perm]] = {}
        self.layouts: dict[str, tuple[str, Perm]] = {}  # tensor name -> (IR value, perm), for the runner
        self._consts: dict[tuple, int] = {}
        self._moved: dict[tuple, int] = {}
        self._names: set[str] = set()
        self.transposes = 0
        self.weight_bytes = 0
        self.fp32_bytes = 0  # what the float weights would take as fp32
        self.done: set[str] = set()
        self.consumers = graph.consumers()
        self.graph_outputs = {v.name for v in graph.outputs}
        self.node: Node | None = None
        self.outputs: list[int] = []  # the file's output tensors
        self.file_inputs: list[int] = []  # the file's input tensors, where not the IR inputs' own (int8)
        self.flat_rows: dict[str, np.ndarray] = {}  # flattened values whose order the next dense absorbs

    # -- shapes and weights ----------------------------------------------------
    def weight(self, value: str) -> np.ndarray | None:
        return self.graph.weights.get(value) if value else None

    def ir_shape(self, value: str) -> tuple:
        shape = self.shapes.get(value)
        if shape is None:
            raise unsupported_attr("shape", value, "LiteRT tensors need a known rank (shape inference failed)")
        return tuple(shape)

    def dtype(self, value: str) -> str:
        """The IR dtype of ``value``: declared, or of its tensor once written, or of a weight;
        a new value without a declared dtype takes its producer's data input's (the
        comparisons and Cast name theirs)."""
        info = self.graph.value_info(value)
        if info is not None:
            return info.dtype
        if value in self.values:
            code = self.tensors[self.values[value][0]].type
            return next(k for k, v in TENSOR_TYPES.items() if getattr(self.S.TensorType, v) == code)
        w = self.weight(value)
        if w is not None:
            return str(w.dtype)
        node = self.node if self.node is not None and value in self.node.outputs else None
        data = (node.inputs[1] if node.op == "Where" else node.inputs[0]) if node is not None and node.inputs else ""
        return self.dtype(data) if data and data != value else "float32"

    # -- tensors -----------------------------------------------------------------
    def tensor(self, name: str, shape, dtype: str = "float32", data: np.ndarray | None = None,
               quant: Any = None) -> int:
        S = self.S
        t = S.TensorT()
        t.name = fresh(name, self._names)
        self._names.add(t.name)
        dims = dims_of(shape)
        t.shape = [1 if d < 0 else d for d in dims]
        if any(d < 0 for d in dims):
            t.shapeSignature = dims
        if dtype not in TENSOR_TYPES:
            raise unsupported_attr("dtype", dtype, f"LiteRT tensors are {', '.join(TENSOR_TYPES)}")
        t.type = getattr(S.TensorType, TENSOR_TYPES[dtype])
        t.buffer = 0
        t.quantization = quant
        if data is not None:
            if callable(data):  # bytes made when the file is packed (see lazy_buffer)
                b = lazy_buffer(S, data)
                b.nbytes = int(np.prod(t.shape, dtype=np.int64)) * np.dtype(dtype).itemsize
                self.weight_bytes += b.nbytes
            else:
                b = S.BufferT()
                b.data = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
                self.weight_bytes += b.data.size
            t.buffer = len(self.buffers)
            self.buffers.append(b)
        self.tensors.append(t)
        return len(self.tensors) - 1

    def dims(self, idx: int) -> list[int]:
        """Tensor ``idx``'s stored dims, -1 where dynamic."""
        t = self.tensors[idx]
        return list(t.shapeSignature if t.shapeSignature is not None else t.shape)

    def like(self, idx: int, name: str) -> int:
        """A new float tensor shaped as tensor ``idx`` (an intermediate of a lowering)."""
        return self.tensor(name, self.dims(idx))

    def step(self, code: str, inputs: list[int], shape, name: str, options: str | None = None, **fields) -> int:
        """One operator of a lowering into a new float tensor of ``shape``; its index."""
        y = self.tensor(name, shape)
        self.op(code, inputs, [y], options, **fields)
        return y

    def transpose(self, idx: int, perm, name: str) -> int:
        """A TRANSPOSE a lowering needs inside (counted as every emitted one is)."""
        dims = self.dims(idx)
        self.transposes += 1
        return self.step("TRANSPOSE", [idx, self.ints(list(perm), f"{name}/perm")], [dims[p] for p in perm], name)

    def out(self, value: str, perm: Perm | None = None, dtype: str | None = None) -> int:
        """A new tensor for IR ``value``, stored laid out as ``perm``."""
        shape = self.ir_shape(value)
        perm = identity(len(shape)) if perm is None else tuple(perm)
        idx = self.tensor(value, [shape[p] for p in perm], dtype or self.dtype(value))
        self.values[value] = (idx, perm)
        self.layouts[self.tensors[idx].name] = (value, perm)
        return idx

    def reshape_dims(self, want, source: int, source_dims, name: str) -> int:
        """RESHAPE's shape input for the stored sizes ``want`` (ints or IR symbols): a
        constant where at most one is unknown; otherwise each symbol is read when the model
        runs from the stored axis of tensor ``source`` (whose stored sizes are
        ``source_dims``) with the same symbol (SHAPE, CONCATENATION with the constants,
        GATHER), and at most one symbol found there is left to RESHAPE as -1."""
        dims = dims_of(want)
        if dims.count(-1) <= 1:
            return self.ints(dims, name)
        consts, picks, unknown = [], [], 0
        for d, w in zip(dims, want):
            if d < 0 and w in source_dims:
                picks.append(list(source_dims).index(w))
                continue
            unknown += d < 0
            picks.append(len(source_dims) + len(consts))
            consts.append(d)
        if unknown > 1:
            raise unsupported_attr("shape", list(want), "LiteRT's RESHAPE infers one size not read from its input")
        shape = self.tensor(f"{name}/source_shape", [len(source_dims)], "int32")
        self.op("SHAPE", [source], [shape], "ShapeOptions", outType=self.S.TensorType.INT32)
        table = self.tensor(f"{name}/sizes", [len(source_dims) + len(consts)], "int32")
        self.op("CONCATENATION", [shape, self.ints(consts, f"{name}/fixed")], [table], "ConcatenationOptions", axis=0)
        out = self.tensor(name, [len(dims)], "int32")
        self.op("GATHER", [table, self.ints(picks, f"{name}/picks")], [out], "GatherOptions", axis=0)
        return out

    def ints(self, values, name: str = "const") -> int:
        """An int32 constant (shapes, axes, paddings, permutations)."""
        arr = np.asarray(values, dtype=np.int32)
        key = ("int32", arr.shape, arr.tobytes())
        if key not in self._consts:
            self._consts[key] = self.tensor(name, arr.shape, "int32", arr)
        return self._consts[key]

    def const(self, arr: np.ndarray, name: str, quant_axis: int | None = None) -> int:
        """A float weight as stored in the file: fp32, fp16 with a DEQUANTIZE after it, or
        (``quant_axis`` given, dynamic-int8) symmetric per-channel int8 that LiteRT's
        hybrid kernels read directly. ``arr`` may be a transposed view of an IR weight: an
        fp32 or fp16 one is laid out only when the file is packed, one weight at a time."""
        arr = np.asarray(arr)
        key = (name, arr.shape, arr.dtype.str, quant_axis, digest(arr))
        if key in self._consts:
            return self._consts[key]
        self.fp32_bytes += arr.size * 4 if arr.dtype.kind == "f" else 0
        if arr.dtype.kind != "f":
            idx = self.tensor(name, arr.shape, str(arr.dtype), arr)
        elif self.weight_mode == "dynamic-int8" and quant_axis is not None:
            idx = self._int8(arr, name, quant_axis)
        elif self.weight_mode == "fp16" and arr.size > 1:
            half = self.tensor(f"{name}/fp16", arr.shape, "float16", lambda a=arr: returned_copy(a, np.float16))
            idx = self.tensor(name, arr.shape, "float32")
            self.op("DEQUANTIZE", [half], [idx])
        else:
            idx = self.tensor(name, arr.shape, "float32", lambda a=arr: returned_copy(a, np.float32))
        self._consts[key] = idx
        return idx

    def _int8(self, arr: np.ndarray, name: str, axis: int) -> int:
        other = tuple(i for i in range(arr.ndim) if i != axis)
        amax = np.max(np.abs(arr), axis=other) if other else np.abs(arr)
        scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
        shape = [1] * arr.ndim
        shape[axis] = -1
        q = np.clip(np.round(arr / scale.reshape(shape)), -127, 127).astype(np.int8)
        qp = self.S.QuantizationParametersT()
        qp.scale = [float(s) for s in scale]
        qp.zeroPoint = [0] * len(scale)
        qp.quantizedDimension = axis
        return self.tensor(name, arr.shape, "int8", q, quant=qp)

    # -- values in layouts ------------------------------------------------------
    def has(self, value: str) -> bool:
        return value in self.values

    def perm(self, value: str) -> Perm:
        if value in self.values:
            return self.values[value][1]
        return identity(len(self.ir_shape(value)))

    def put(self, value: str, idx: int, perm: Perm) -> None:
        """``value`` is tensor ``idx`` laid out as ``perm`` (an alias: no new tensor)."""
        self.values[value] = (idx, tuple(perm))

    def get(self, value: str, want: Perm | None = None) -> int:
        """The tensor for ``value`` laid out as ``want`` (IR order by default): constants
        are transposed offline; a computed value gets one (cached) TRANSPOSE."""
        if value not in self.values:
            w = self.weight(value)
            if w is None:
                raise unsupported_attr("input", value, "produced by an unsupported node")
            want = identity(w.ndim) if want is None else tuple(want)
            return self.const(np.transpose(w, want), value)
        idx, have = self.values[value]
        want = identity(len(have)) if want is None else tuple(want)
        if have == want:
            return idx
        key = (value, want)
        if key not in self._moved:
            shape = self.ir_shape(value)
            dims = [shape[p] for p in want]
            moved = self.tensor(f"{value}/t", dims, self.dtype(value))
            self.layouts[self.tensors[moved].name] = (value, want)
            move = relayout(have, want)
            if keeps_order(move, self.dims(idx)) and dims_of(dims).count(-1) <= 1:
                # only unit axes move (a 1x1 feature map): the elements keep their order
                self.op("RESHAPE", [idx, self.ints(dims_of(dims), f"{value}/shape")], [moved])
            else:
                self.op("TRANSPOSE", [idx, self.ints(move, f"{value}/perm")], [moved])
                self.transposes += 1
            self._moved[key] = moved
        return self._moved[key]

    # -- operators ------------------------------------------------------------------
    def op(self, code: str, inputs: list[int], outputs: list[int], options: str | None = None, **fields) -> None:
        S = self.S
        c = getattr(S.BuiltinOperator, code)
        if c not in self._opcode:
            oc = S.OperatorCodeT()
            oc.builtinCode = c
            oc.deprecatedBuiltinCode = min(c, 127)  # codes past 127 live in builtinCode only
            oc.version = _FIRST_VERSION.get(code, 1)
            self._opcode[c] = len(self.opcodes)
            self.opcodes.append(oc)
        o = S.OperatorT()
        o.opcodeIndex = self._opcode[c]
        o.inputs = list(inputs)
        o.outputs = list(outputs)
        if options:
            o.builtinOptionsType = getattr(S.BuiltinOptions, options)
            opt = getattr(S, options + "T")()
            for k, v in fields.items():
                setattr(opt, k, v)
            o.builtinOptions = opt
        self.operators.append(o)

    def fused(self, value: str) -> tuple[int, str]:
        """(LiteRT fused activation, value the op's output stands for) for the op computing
        ``value``: the activation after it is absorbed when the fuse pass allows."""
        act = self._fusable.get(value)
        if act is None:
            return 0, value
        self.done.add(act.name)
        return fused_code(act), act.outputs[0]
