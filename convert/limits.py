"""Bounds against hostile or corrupted model files, in one place.

A model file declares sizes (tensor shapes in a safetensors header, HDF5 dataset
shapes, caffemodel blob dims, zip member sizes) before the data that backs them. Every
reader checks the declared size against these bounds *before* allocating, so a 1 KiB
file that claims a 10^12-element tensor ends in a ModelLoadError (exit 3), never in an
out-of-memory kill or a hang. Raise a bound here if a real model needs it.
"""
from __future__ import annotations

import json
import math
import re
import zipfile
import zlib
from typing import Any

from .errors import ModelLoadError

# One tensor: at most 2^31 elements (8 GiB of float32) -- larger than any single layer
# of the models nnconvert targets, far below what a hostile header can claim.
MAX_TENSOR_ELEMENTS = 2**31
# All weights of one model together (bytes).
MAX_TOTAL_WEIGHT_BYTES = 64 * 2**30
# Zero-filled weights of a prototxt converted without its caffemodel (VGG-16: 0.55 GB).
MAX_ZERO_FILL_BYTES = 2 * 2**30
# JSON documents (Keras config.json / metadata.json, nnir graph.json): nesting depth
# and size. Real Keras configs nest ~10 levels per nested model.
MAX_JSON_DEPTH = 200
MAX_JSON_BYTES = 256 * 2**20
# Zip archives (.keras, .pt2): the declared uncompressed size of all members may be at
# most ZIP_EXPANSION_RATIO x the archive size + ZIP_EXPANSION_SLACK, and at most
# MAX_ZIP_MEMBERS entries. Weights compress poorly (~1.1x), configs well (~10x).
ZIP_EXPANSION_RATIO = 20
ZIP_EXPANSION_SLACK = 64 * 2**20
MAX_ZIP_MEMBERS = 100_000
# Protobuf messages (caffemodel, prototxt): nesting depth (protobuf's own default is 100).
MAX_PROTO_DEPTH = 100
# Text files read whole (prototxt).
MAX_TEXT_BYTES = 256 * 2**20


# One dimension of an activation or input: a size beyond this is a corrupted or hostile
# file (a batch of 2^62), not a model.
MAX_DIM = MAX_TENSOR_ELEMENTS


def check_dims(path: str, what: str, shape: Any) -> None:
    """Every static dimension of ``shape`` is an integer in [1, MAX_DIM]; dynamic ones
    (None, a name) pass. Shape inference calls this on every shape it derives, so a
    kernel larger than its input or an absurd batch is an error naming the layer."""
    for d in shape:
        if d is None or isinstance(d, str):
            continue
        if isinstance(d, bool) or not isinstance(d, (int, float)) or d != int(d) or not 1 <= int(d) <= MAX_DIM:
            dims = tuple(shape)
            raise ModelLoadError(path, f"{what}: shape {dims} has dimension {d!r}, outside 1..{MAX_DIM} "
                                       f"(a kernel larger than its input, or a corrupted or hostile size)")


def check_elements(path: str, what: str, shape: Any) -> int:
    """The element count of ``shape`` (exact integer arithmetic); raises when a dim is
    negative or not an integer, or the count exceeds MAX_TENSOR_ELEMENTS."""
    try:
        dims = [int(d) for d in shape]
    except (TypeError, ValueError):
        raise ModelLoadError(path, f"{what}: shape {shape!r} is not a list of integers") from None
    if any(d < 0 for d in dims):
        raise ModelLoadError(path, f"{what}: shape {tuple(dims)} has a negative dimension")
    n = math.prod(dims)
    if n > MAX_TENSOR_ELEMENTS:
        raise ModelLoadError(path, f"{what}: declared shape {tuple(dims)} ({n} elements) exceeds the limit of "
                                   f"{MAX_TENSOR_ELEMENTS} elements per tensor (corrupted or hostile file?)")
    return n


class Budget:
    """Bytes one import may materialise, derived from the size of the file(s) read: the
    file's own tensors *and* every constant the importer creates from a declared shape
    (a LayerNormalization scale of ones, a pooling divisor map, zero-filled weights)
    count against it, and each is checked here *before* it is allocated. A 3 KB file
    that declares a 10^9-element input can then not make the reader use gigabytes."""

    def __init__(self, path: str, file_size: int):
        self.path = str(path)
        self.total = ZIP_EXPANSION_RATIO * max(int(file_size), 0) + ZIP_EXPANSION_SLACK
        self.left = self.total
        self.zero_filled = 0

    def claim(self, what: str, shape: Any, itemsize: int = 4) -> int:
        """Reserve the bytes of an array of ``shape``; returns its element count."""
        n = check_elements(self.path, what, shape)
        nbytes = n * int(itemsize)
        if nbytes > self.left:
            raise ModelLoadError(self.path, f"{what}: shape {tuple(int(d) for d in shape)} needs {nbytes} bytes, "
                                            f"more than a file of this size may make nnconvert allocate "
                                            f"({self.total} bytes; a corrupted or hostile size?)")
        self.left -= nbytes
        return n

    def claim_zeros(self, what: str, shape: Any, itemsize: int = 4) -> int:
        """Zero-filled weights the user asked for (Caffe --allow-missing-weights): a prototxt
        alone declares the weights of a whole zoo model, so these have their own bound."""
        n = check_elements(self.path, what, shape)
        self.zero_filled += n * int(itemsize)
        if self.zero_filled > MAX_ZERO_FILL_BYTES:
            raise ModelLoadError(self.path, f"{what}: zero-filling shape {tuple(int(d) for d in shape)} brings the "
                                            f"zero-filled weights to {self.zero_filled} bytes, over the limit of "
                                            f"{MAX_ZERO_FILL_BYTES} (a corrupted or hostile size?)")
        return n


def claim(budget: "Budget | None", what: str, shape: Any, itemsize: int = 4) -> None:
    """``budget.claim`` when there is a budget (a live in-memory model has none: its
    arrays already exist); the per-tensor bound applies either way."""
    if budget is not None:
        budget.claim(what, shape, itemsize)
    else:
        check_elements("model", what, shape)


def json_depth(obj: Any) -> int:
    """Nesting depth of a parsed JSON value (iterative: no recursion on deep input)."""
    depth, stack = 0, [(obj, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            depth = max(depth, d)
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            depth = max(depth, d)
            stack.extend((x, d + 1) for x in v)
    return depth


# A JSON string, or an unterminated one running to the end of the text (ending in a lone
# backslash or not); the unrolled form never backtracks.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _text_depth(text: str | bytes) -> int:
    """Bracket nesting of a JSON text, ignoring brackets inside strings (no parsing): the
    strings and everything but brackets are removed by regular expressions, the rest
    summed as +1 / -1 steps (a Python loop over each character took 30 ms for a
    ResNet-50's graph)."""
    import numpy as np

    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)).encode("ascii")
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, np.uint8)
    depth = np.cumsum(np.where((codes == ord("[")) | (codes == ord("{")), 1, -1))
    return max(0, int(depth.max()))


def load_json(path: str, text: str | bytes, what: str = "JSON") -> Any:
    """json.loads with size and nesting bounds; every failure is a ModelLoadError."""
    if len(text) > MAX_JSON_BYTES:
        raise ModelLoadError(path, f"{what} is {len(text)} bytes, over the limit of {MAX_JSON_BYTES}")
    depth = _text_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ModelLoadError(path, f"{what} nests {depth} levels deep, over the limit of {MAX_JSON_DEPTH} "
                                   f"(corrupted or hostile file?)")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ModelLoadError(path, f"{what} is not valid JSON ({e})") from None


def check_zip(path: str, zf, file_size: int) -> None:
    """Refuse a zip whose members declare more uncompressed bytes than the bound."""
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise ModelLoadError(path, f"archive has {len(infos)} members, over the limit of {MAX_ZIP_MEMBERS}")
    total = sum(max(i.file_size, 0) for i in infos)
    bound = ZIP_EXPANSION_RATIO * file_size + ZIP_EXPANSION_SLACK
    if total > bound:
        raise ModelLoadError(path, f"archive declares {total} uncompressed bytes for a {file_size}-byte file "
                                   f"(limit {bound}: a zip bomb or a corrupted archive)")


def read_zip_member(path: str, zf, name: str, limit: int | None = None) -> bytes:
    """Read one member, stopping as soon as it yields more than its declared size: a lying
    header cannot make the reader inflate without bound. A member that declares more than
    ``limit`` bytes is refused before anything is inflated."""
    info = zf.getinfo(name)
    declared = int(info.file_size)
    if limit is not None and declared > limit:
        raise ModelLoadError(path, f"archive member {name} declares {declared} bytes, over the {limit}-byte "
                                   "limit for that member")
    try:
        with zf.open(info) as f:
            data = f.read(declared + 1)
    except (zipfile.BadZipFile, EOFError, zlib.error) as e:  # the bytes do not match the header's size or CRC
        raise ModelLoadError(path, f"archive member {name} does not match its header ({declared} bytes "
                                   f"declared): {e}") from None
    if len(data) > declared:
        raise ModelLoadError(path, f"archive member {name} inflates past the {declared} bytes its header "
                                   "declares (a corrupted or hostile archive)")
    return data
