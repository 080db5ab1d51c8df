"""Tensors of the older ``torch.export.save`` layout (torch 2.6 writes it):
``serialized_state_dict.pt`` and ``serialized_constants.pt`` are ``torch.save`` zips of
a dict of tensors, whose index is a pickle.

The pickle is read without trusting it: its opcodes are listed first (``pickletools``,
which executes nothing and checks every length against the bytes present), and any
opcode that reaches beyond plain data, a global or a persistent id is refused; then a
restricted unpickler resolves exactly the globals ``torch.save`` writes for tensors (an
OrderedDict, the tensor and parameter rebuild functions, the typed storage classes) to
stand-ins of its own. Nothing from the file is imported or called. Every tensor's shape,
strides and offset are checked against its storage's bytes before an array is made.
"""
from __future__ import annotations

import io
import pickle
import pickletools
import posixpath
import zipfile
from typing import Any, Callable, NamedTuple

from ...errors import ModelLoadError
from ...limits import check_zip, read_zip_member

# torch.<Type>Storage -> the serialized ScalarType code pt2_archive.SCALAR_TYPES reads
_STORAGES = {"ByteStorage": 1, "CharStorage": 2, "ShortStorage": 3, "IntStorage": 4, "LongStorage": 5,
             "HalfStorage": 6, "FloatStorage": 7, "DoubleStorage": 8, "BoolStorage": 12, "BFloat16Storage": 13}
# plain data, the memo, globals, calls and persistent ids: what torch.save emits for tensors
_REFUSED_OPCODES = {"EXT1", "EXT2", "EXT4", "INST", "OBJ", "PERSID", "BYTEARRAY8", "NEXT_BUFFER",
                    "READONLY_BUFFER"}
_PICKLE_LIMIT = 64 << 20  # the index of a state dict is ~100 bytes per tensor
_INNER_MEMBERS = {"data.pkl", "version", "byteorder", ".format_version", ".storage_alignment"}


class Storage(NamedTuple):
    key: str
    dtype: int  # serialized ScalarType
    numel: int


class TensorRef(NamedTuple):
    """A tensor as the pickle declares it; made into an array only after its checks."""

    storage: Storage
    offset: int
    size: tuple
    stride: tuple


class _OrderedDict(dict):
    """Stands in for collections.OrderedDict; a state dict's ``_metadata`` attribute
    (set by BUILD) is kept on the instance and never read."""


def _rebuild_tensor(storage, offset, size, stride, *_rest) -> TensorRef:
    return TensorRef(storage, offset, tuple(size), tuple(stride))


def _rebuild_parameter(data, *_rest):
    return data


_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): _OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    **{("torch", name): ("storage_class", code) for name, code in _STORAGES.items()},
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, fail: Callable[[str], None]):
        super().__init__(io.BytesIO(data))
        self._fail = fail

    def find_class(self, module: str, name: str):
        if (module, name) not in _GLOBALS:
            self._fail(f"refused: the pickled tensor index names {module[:60]}.{name[:60]}, which is not part "
                       "of a plain dict of tensors (unpickling it could run code). Pass --trust-pickle only if "
                       "you trust the file")
        return _GLOBALS[(module, name)]

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], tuple) and pid[1][:1] == ("storage_class",)
                and isinstance(pid[2], str) and isinstance(pid[4], int) and not isinstance(pid[4], bool)):
            self._fail(f"refused: unexpected persistent id {str(pid)[:80]} in the pickled tensor index")
        return Storage(pid[2], pid[1][1], pid[4])


def read_tensor_zip(path: str, data: bytes, what: str,
                    make: Callable[[str, dict, bytes], Any]) -> dict[str, Any]:
    """The dict of tensors in the ``torch.save`` zip ``data`` (member ``what`` of the
    archive), each built by ``make(name, tensor_meta, storage_bytes)``, where
    ``tensor_meta`` has the serialized program's spelling (dtype code, sizes, strides,
    storage_offset), so the caller's own checks apply."""
    def fail(problem: str):
        raise ModelLoadError(path, f"{what}: {problem}")

    if not data:
        return {}
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as e:
        fail(f"not a torch.save zip ({e}); the older pickle-only format is not read")
    with zf:
        check_zip(f"{path}:{what}", zf, len(data))
        names = {i.filename for i in zf.infolist()}
        pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            fail("not a torch.save zip (no single <name>/data.pkl)")
        root = pkl[0][:-len("data.pkl")]
        odd = [n for n in names if not n.startswith(root) or not (
            n[len(root):] in _INNER_MEMBERS or n[len(root):].startswith((".data/", "data/")))]
        if odd:
            fail(f"refused: unexpected member(s) {sorted(odd)[:5]}")
        if f"{root}byteorder" in names and read_zip_member(path, zf, f"{root}byteorder", 16).strip() != b"little":
            fail("not little-endian")
        index = _unpickle(read_zip_member(path, zf, pkl[0], _PICKLE_LIMIT), fail)
        out, storages = {}, {}
        for name, ref in index.items():
            if not isinstance(name, str) or not isinstance(ref, TensorRef):
                fail(f"entry {str(name)[:60]!r} is not a tensor (custom objects are not read)")
            member = posixpath.join(root, "data", ref.storage.key)
            if "/" in ref.storage.key or ref.storage.key in ("", ".", "..") or member not in names:
                fail(f"{name}: its storage {ref.storage.key[:40]!r} is not in the file")
            if member not in storages:
                storages[member] = bytearray(read_zip_member(path, zf, member))  # writable arrays, as in the PT2 layout
            meta = {"dtype": ref.storage.dtype, "sizes": _ints(ref.size, fail), "strides": _ints(ref.stride, fail),
                    "storage_offset": _ints([ref.offset], fail)[0]}
            out[name] = make(name, meta, storages[member])
        return out


def _ints(values, fail) -> list[dict]:
    if not isinstance(values, (tuple, list)) or any(not isinstance(v, int) or isinstance(v, bool) for v in values):
        fail(f"a tensor's shape {str(values)[:60]} is not a tuple of integers")
    return [{"as_int": v} for v in values]


def _unpickle(data: bytes, fail) -> dict:
    try:
        for op, _arg, _pos in pickletools.genops(data):
            if op.name in _REFUSED_OPCODES:
                fail(f"refused: pickle opcode {op.name} in the tensor index (not plain data)")
    except ModelLoadError:
        raise
    except Exception as e:  # noqa: BLE001 - a malformed pickle, whatever pickletools says
        fail(f"the pickled tensor index is malformed ({type(e).__name__}: {str(e)[:80]})")
    try:
        index = _Unpickler(data, fail).load()
    except ModelLoadError:
        raise
    except Exception as e:  # noqa: BLE001
        fail(f"the pickled tensor index cannot be read as a dict of tensors ({type(e).__name__}: {str(e)[:80]})")
    if not isinstance(index, dict):
        fail("the pickled tensor index is not a dict of tensors")
    return index
