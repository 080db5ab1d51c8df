"""Writes an .onnx file from the exporter's nodes with the wire encoder (no onnx import):
weights stream from their arrays to the file, or to one external data file."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence, Union

import numpy as np

from ...ir.graph import Graph
from . import wire
from .context import ONNX_DTYPE, OnnxContext

Progress = Callable[[int, int], None]  # (done, total)
Part = Union[bytes, np.ndarray]  # encoded bytes, or an array whose raw bytes follow its header
ALIGN = 64  # external data offsets (mmap friendly)
# smaller weights stay inside the model file even when the rest is external
EXTERNAL_MIN_BYTES = 1024


def place(offset: int, nbytes: int) -> tuple[int, int]:
    """Where the next weight of ``nbytes`` goes in an external data file now ``offset``
    bytes long: (its start, aligned to ALIGN, and the file's new end)."""
    start = offset + (-offset % ALIGN)
    return start, start + nbytes


class DataFile:
    """Appends weights to one external data file at ``place``'s offsets. With
    ``path=None`` it only allocates offsets (for a skeleton model)."""

    def __init__(self, path: Path | None, progress: Progress | None = None, total: int = 0):
        self.f = open(path, "wb") if path is not None else None
        self.offset = 0
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, name: str, arr: np.ndarray) -> tuple[int, int]:
        start, end = place(self.offset, arr.nbytes)
        if self.f is not None:
            self.f.write(b"\0" * (start - self.offset))
            self.f.write(raw_bytes(arr))
        self.offset = end
        if self.progress is not None:
            self.done += 1
            self.progress(min(self.done, self.total), self.total)
        return start, arr.nbytes

    def close(self) -> None:
        if self.f is not None:
            self.f.close()


def raw_bytes(arr: np.ndarray) -> memoryview:
    """The array's bytes without a copy (a copy only for a non-contiguous view)."""
    return memoryview(np.ascontiguousarray(arr).reshape(-1).view(np.uint8))


def _value(v) -> bytes:
    if v.shape is None:  # to_onnx fills a missing output shape by onnx's shape inference
        raise wire.NeedsOnnx(f"{v.name} has no shape")
    return wire.value_info(v.name, ONNX_DTYPE[v.dtype], [d if isinstance(d, (int, str)) else None for d in v.shape])


def encode(graph: Graph, ctx: OnnxContext, weights: Sequence[str], header: dict,
           external_data: str | None = None, data_writer: DataFile | None = None) -> tuple[bytes, list[Part], bytes]:
    """The model as (fields before the graph, the graph's parts, fields after it).
    ``header``: ir_version, producer_version, opsets [(domain, version)]. Raises NeedsOnnx
    before any weight reaches ``data_writer``."""
    if ctx.functions:
        raise wire.NeedsOnnx("model-local functions")
    nodes = [wire.message(1, wire.node(n.op_type, n.input, n.output, n.name, n.domain, n.attrs)) for n in ctx.nodes]
    ios = [wire.message(11, _value(v)) for v in graph.inputs] + [wire.message(12, _value(v)) for v in graph.outputs]
    tensors = [(name, graph.weights[name]) for name in weights] + list(ctx.initializers.items())
    for _, arr in tensors:
        wire.tensor_dtype(arr)
    inits: list[Part] = []
    for i, (name, arr) in enumerate(tensors):
        if i < len(weights) and external_data and data_writer is not None and arr.nbytes >= EXTERNAL_MIN_BYTES:
            offset, length = data_writer(name, arr)
            inits.append(wire.message(5, wire.tensor_head(name, arr, (external_data, offset, length))))
        else:
            head = wire.tensor_head(name, arr)
            # small ones as bytes: only the weights an external file would hold count for progress
            data = arr if i < len(weights) and arr.nbytes >= EXTERNAL_MIN_BYTES else bytes(raw_bytes(arr))
            inits += [wire.field_header(5, len(head) + arr.nbytes), head, data]
    head = (wire.int64(1, header["ir_version"]) + wire.string(2, "nnconvert")
            + wire.string(3, header["producer_version"]))
    tail = b"".join(wire.message(8, wire.opset(d, v)) for d, v in header["opsets"])
    tail += b"".join(wire.message(14, wire.entry(k, str(v))) for k, v in sorted(graph.metadata.items()))
    return head, nodes + [wire.string(2, graph.name)] + inits + ios, tail


def write(path: Path, head: bytes, parts: list[Part], tail: bytes, progress: Progress | None = None) -> None:
    """Write the model; each array's bytes go from the array to the file."""
    size = sum(p.nbytes if isinstance(p, np.ndarray) else len(p) for p in parts)
    arrays = sum(isinstance(p, np.ndarray) for p in parts)
    done = 0
    with open(path, "wb") as f:
        f.write(head)
        f.write(wire.field_header(7, size))
        for p in parts:
            if isinstance(p, np.ndarray):
                f.write(raw_bytes(p))
                done += 1
                if progress is not None:
                    progress(done, arrays)
            else:
                f.write(p)
        f.write(tail)
