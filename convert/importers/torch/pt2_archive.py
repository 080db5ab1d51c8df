"""Read and validate a ``.pt2`` archive (``torch.export.save``) without torch.

What is accepted: one zip holding ``<root>/archive_format`` (``pt2``), ``byteorder``
(``little``), ``models/<name>.json`` (the serialized ExportedProgram, schema major
``SCHEMA_MAJOR``), ``data/weights`` and ``data/constants`` (a JSON config plus one raw
little-endian storage per tensor), version/id files and ``data/sample_inputs`` (never
read). Refused, with the file named: AOTInductor/ExecuTorch/MTIA payloads and any
shared library, any other member, pickled weights, constants or custom objects, guard
code and symbolic-shape expressions outside ``pt2_expr``'s grammars, a tensor whose
declared shape, strides or offset reach past the bytes stored for it, and a member that
is compressed beyond the zip bounds of ``convert.limits``. The older layout torch 2.6
writes (``serialized_exported_program.json`` and ``torch.save`` zips of tensors) is
read too, its pickled tensor index through ``pt2_legacy``'s restricted reader. Nothing
here imports torch, runs unpickled code, evaluates or loads code.
"""
from __future__ import annotations

import io
import re
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ...errors import ModelLoadError
from ...ir.graph import numpy_dtype
from ...limits import check_elements, check_zip, load_json, read_zip_member
from . import pt2_expr, pt2_legacy

SCHEMA_MAJOR = 8  # torch 2.6 writes 8.2, 2.13 to 2.15 write 8.20; a new major means incompatible changes
# serialized ScalarType -> (numpy dtype, torch spelling); others (complex, float8, bf16) are refused
SCALAR_TYPES = {1: ("uint8", "torch.uint8"), 2: ("int8", "torch.int8"), 3: ("int16", "torch.int16"),
                4: ("int32", "torch.int32"), 5: ("int64", "torch.int64"), 6: ("float16", "torch.float16"),
                7: ("float32", "torch.float32"), 8: ("float64", "torch.float64"), 12: ("bool", "torch.bool"),
                13: ("bfloat16", "torch.bfloat16")}
_REFUSED_DIRS = {"data/aotinductor/": "an AOTInductor payload (compiled code)", "data/executorch/": "an ExecuTorch "
                 "payload", "data/mtia/": "an MTIA payload", "data/xl_model_weights/": "XL weights (not read)"}
_META_FILES = {"archive_format", "archive_version", "byteorder", ".data/version", ".data/serialization_id",
               "version"}
_LOCAL_HEADER = struct.Struct("<4s22xHH")
LEGACY_PROGRAM = "serialized_exported_program.json"
_LEGACY_MEMBERS = {LEGACY_PROGRAM, "serialized_state_dict.pt", "serialized_constants.pt",
                   "serialized_example_inputs.pt", "version"}


@dataclass
class Pt2Archive:
    """A validated archive: the model JSON and every tensor as a numpy array."""

    path: str
    model: dict
    schema_version: tuple[int, int]
    torch_version: str
    state_dict: dict[str, np.ndarray] = field(default_factory=dict)
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    validated: list[str] = field(default_factory=list)  # member names a second reader may see
    root: str = ""
    models: list[str] = field(default_factory=list)  # program names under models/
    program_member: str = ""  # the member holding the program JSON
    legacy: bool = False  # torch 2.6's layout (serialized_*.json/.pt at the top)


def read_pt2(path: str | Path, data: bytes | None = None) -> Pt2Archive:
    """Read ``path`` (or its bytes ``data``) completely; every problem is a ModelLoadError.
    Each tensor gets its own buffer, so a weight a pass replaces can be freed."""
    p = str(path)
    try:
        f = io.BytesIO(data) if data is not None else open(path, "rb")
    except OSError as e:
        raise ModelLoadError(p, f"cannot be read ({e.strerror or e})") from None
    with f:
        size = f.seek(0, io.SEEK_END)
        try:
            zf = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise ModelLoadError(p, f"not a torch.export archive (not a zip file: truncated or corrupted?): {e}") \
                from None
        with zf:
            check_zip(p, zf, size)
            return _Reader(p, zf, f, size).read()


class _Reader:
    def __init__(self, path: str, zf: zipfile.ZipFile, f, size: int):
        self.path, self.zf, self.f, self.size = path, zf, f, size
        self.names = {i.filename: i for i in zf.infolist()}

    def fail(self, problem: str):
        raise ModelLoadError(self.path, problem)

    def read(self) -> Pt2Archive:
        if len(self.names) != len(self.zf.infolist()):  # readers disagree on which copy counts
            self.fail("refused: the archive holds several members of the same name")
        if self._legacy_layout():
            return self._read_legacy()
        root = self._root()
        self._check_members(root)
        fmt = self._text(f"{root}archive_format", 16)
        if fmt.strip() != "pt2":
            self.fail(f"archive_format is {fmt.strip()[:20]!r}, not 'pt2'")
        order = self._text(f"{root}byteorder", 16) if f"{root}byteorder" in self.names else "little"
        if order.strip() != "little":
            self.fail(f"byteorder {order.strip()[:20]!r} is not supported (little-endian only)")
        model_name = self._model_member(root)
        model, version = self._program(model_name)
        stem = model_name[len(root) + len("models/"):-len(".json")]
        weights = self._payload(root, "data/weights/", f"{stem}_weights_config.json")
        constants = self._payload(root, "data/constants/", f"{stem}_constants_config.json")
        tv = str(model.get("torch_version") or "")
        validated = [n for n in self.names if not n[len(root):].startswith("data/sample_inputs/")]
        return Pt2Archive(self.path, model, version, tv, weights, constants, validated, root, [stem], model_name)

    def _legacy_layout(self) -> bool:
        return LEGACY_PROGRAM in self.names and not any(n.endswith("archive_format") for n in self.names)

    def _read_legacy(self) -> Pt2Archive:
        """The layout torch 2.6 writes: the program JSON at the top, weights and
        constants as torch.save zips (read by ``pt2_legacy``), sample inputs never read."""
        odd = [n for n in self.names if n not in _LEGACY_MEMBERS and not n.startswith("extra_files/")]
        if odd:
            self.fail(f"refused: unexpected member(s) {sorted(odd)[:5]} in an archive of torch.export's older "
                      "layout")
        model, version = self._program(LEGACY_PROGRAM)
        tensors = {}
        for member in ("serialized_state_dict.pt", "serialized_constants.pt"):
            if member not in self.names:
                self.fail(f"not a torch.export archive (no {member})")
            tensors[member] = pt2_legacy.read_tensor_zip(self.path, read_zip_member(self.path, self.zf, member),
                                                         member, self._tensor)
        validated = [n for n in self.names if n in _LEGACY_MEMBERS and n != "serialized_example_inputs.pt"]
        return Pt2Archive(self.path, model, version, str(model.get("torch_version") or ""),
                          tensors["serialized_state_dict.pt"], tensors["serialized_constants.pt"], validated, "",
                          [], LEGACY_PROGRAM, legacy=True)

    def _program(self, model_name: str) -> tuple[dict, tuple[int, int]]:
        """The serialized ExportedProgram, with its schema version, guards, expressions,
        range constraints and static value sizes checked."""
        model = load_json(self.path, read_zip_member(self.path, self.zf, model_name), model_name)
        if not isinstance(model, dict) or not isinstance(model.get("graph_module"), dict):
            self.fail(f"{model_name} is not a serialized ExportedProgram")
        version = self._schema_version(model)
        guards = model.get("guards_code") or []
        for guard in guards if isinstance(guards, list) else [guards]:
            try:
                pt2_expr.parse_guard(guard)
            except pt2_expr.ExprError as e:
                self.fail(f"refused: guard code outside the guard grammar ({e}); torch would compile and run it. "
                          "Pass --trust-code only if you trust the file")
        check_expressions(self.path, model)
        for name in model.get("range_constraints") or {}:
            if not pt2_expr.is_symbol_name(name):
                self.fail(f"range constraint on {name[:60]!r}, which is not a symbol name")
        self._check_tensor_values(model)
        return model, version

    # -- layout --------------------------------------------------------------
    def _root(self) -> str:
        fmt = [n for n in self.names if n == "archive_format" or n.endswith("/archive_format")]
        if len(fmt) != 1:
            self.fail("not a torch.export archive (no single archive_format member)")
        return fmt[0][:-len("archive_format")]

    def _check_members(self, root: str) -> None:
        odd = []
        for name in self.names:
            rel = name[len(root):] if name.startswith(root) else None
            if rel is None or ".." in name.split("/") or name.startswith("/"):
                odd.append(name)
            elif name.endswith((".so", ".dll", ".dylib", ".pyd")) or "/aotinductor/" in f"/{rel}":
                self.fail(f"refused: member {name!r} is compiled code (AOTInductor), which torch would load. "
                          "Pass --trust-code only if you trust the file")
            elif any(rel.startswith(d) for d in _REFUSED_DIRS):
                what = next(v for d, v in _REFUSED_DIRS.items() if rel.startswith(d))
                self.fail(f"refused: member {name!r} is {what}")
            elif rel in _META_FILES or rel.endswith("/") or rel.startswith(("models/", "data/weights/",
                                                                              "data/constants/",
                                                                              "data/sample_inputs/")):
                continue
            else:
                odd.append(name)
        if odd:
            self.fail(f"refused: unexpected member(s) {sorted(odd)[:5]} (the reader accepts models/, "
                      "data/weights/, data/constants/ and version files only)")

    def _text(self, name: str, limit: int) -> str:
        if name not in self.names:
            self.fail(f"not a torch.export archive (no {name})")
        return read_zip_member(self.path, self.zf, name, limit=limit).decode("utf-8", "replace")

    def _model_member(self, root: str) -> str:
        models = sorted(n for n in self.names if n.startswith(f"{root}models/"))
        if not models:
            self.fail("not a torch.export archive (no models/*.json)")
        if len(models) > 1 or not models[0].endswith(".json"):
            self.fail(f"holds {len(models)} members under models/; the reader reads archives of one program")
        return models[0]

    def _schema_version(self, model: dict) -> tuple[int, int]:
        sv = model.get("schema_version") or {}
        try:
            major, minor = int(sv.get("major")), int(sv.get("minor"))
        except (TypeError, ValueError, AttributeError):
            self.fail("the program declares no schema_version")
        if major != SCHEMA_MAJOR:
            self.fail(f"serialization schema {major}.{minor} is not supported (the reader reads {SCHEMA_MAJOR}.x; "
                      "--trust-code loads it with torch)")
        return major, minor

    def _check_tensor_values(self, model: dict) -> None:
        graph = model["graph_module"].get("graph") or {}
        for name, meta in (graph.get("tensor_values") or {}).items():
            sizes = (meta or {}).get("sizes") or []
            static = [s.get("as_int") for s in sizes if isinstance(s, dict) and "as_int" in s]
            if len(static) == len(sizes):
                check_elements(self.path, f"value {name}", static)

    # -- tensors -------------------------------------------------------------
    def _payload(self, root: str, folder: str, config_name: str) -> dict[str, np.ndarray]:
        cfg_member = f"{root}{folder}{config_name}"
        if cfg_member not in self.names:
            return {}
        cfg = load_json(self.path, read_zip_member(self.path, self.zf, cfg_member), cfg_member)
        entries = cfg.get("config") if isinstance(cfg, dict) else None
        if not isinstance(entries, dict):
            self.fail(f"{cfg_member} is not a payload config")
        storages: dict[str, bytes | bytearray] = {}
        out = {}
        for fqn, meta in entries.items():
            if not isinstance(meta, dict):
                self.fail(f"{cfg_member}: entry {fqn!r} is not an object")
            if meta.get("use_pickle"):
                self.fail(f"refused: {folder}{meta.get('path_name')} ({fqn}) is pickled; unpickling it could run "
                          "code. Pass --trust-pickle only if you trust the file")
            tm = meta.get("tensor_meta")
            if not isinstance(tm, dict):
                self.fail(f"{fqn}: a payload without tensor metadata (a custom object) is not supported")
            member = f"{root}{folder}{meta.get('path_name')}"
            if not isinstance(meta.get("path_name"), str) or "/" in meta["path_name"] or member not in self.names:
                self.fail(f"{fqn}: its data {meta.get('path_name')!r} is not in the archive")
            if member not in storages:
                storages[member] = self._member_bytes(member)
            out[fqn] = self._tensor(fqn, tm, storages[member])
        return out

    def _member_bytes(self, name: str) -> bytes | bytearray:
        """A stored member is read straight from the file; a compressed one is inflated
        with its declared size as the bound."""
        info = self.names[name]
        if info.compress_type != zipfile.ZIP_STORED:
            return read_zip_member(self.path, self.zf, name)
        self.f.seek(info.header_offset)
        head = self.f.read(_LOCAL_HEADER.size)
        if len(head) != _LOCAL_HEADER.size:
            self.fail(f"member {name} lies beyond the end of the file (truncated?)")
        sig, name_len, extra_len = _LOCAL_HEADER.unpack(head)
        start = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
        if sig != b"PK\x03\x04" or start + info.file_size > self.size or info.compress_size != info.file_size:
            self.fail(f"member {name} is corrupted (its bytes do not fit the file)")
        self.f.seek(start)
        # a bytearray: the arrays over it are writable, so a pass that owns them (in-place
        # BatchNorm folding) need not copy them
        data = bytearray(info.file_size)
        if self.f.readinto(data) != info.file_size:
            self.fail(f"member {name} is truncated")
        return data

    def _tensor(self, fqn: str, tm: dict, buf: bytes | bytearray) -> np.ndarray:
        return stored_tensor(self.path, fqn, tm, buf)


def stored_tensor(path: str, fqn: str, tm: dict, buf: bytes | bytearray) -> np.ndarray:
    """The array a tensor record (serialized ``tensor_meta``: dtype code, sizes, strides,
    storage offset) describes over its storage bytes, after checking that it fits them."""
    def fail(problem: str):
        raise ModelLoadError(path, problem)

    code = tm.get("dtype")
    np_dtype, torch_name = SCALAR_TYPES.get(code, (None, f"ScalarType {code}"))
    if np_dtype is None:
        fail(f"{fqn}: dtype {torch_name} is not supported by the reader")
    dt = numpy_dtype(np_dtype)
    sizes = [_static(path, fqn, "size", s) for s in tm.get("sizes") or []]
    strides = [_static(path, fqn, "stride", s) for s in tm.get("strides") or []]
    offset = _static(path, fqn, "storage offset", tm.get("storage_offset") or {"as_int": 0})
    n = check_elements(path, fqn, sizes)
    if len(strides) != len(sizes) or any(s < 0 for s in strides) or offset < 0:
        fail(f"{fqn}: strides {strides} / offset {offset} do not describe shape {sizes}")
    if len(buf) % dt.itemsize:
        fail(f"{fqn}: {len(buf)} bytes are not a whole number of {np_dtype} elements")
    stored = len(buf) // dt.itemsize
    needed = 0 if n == 0 else offset + 1 + sum((d - 1) * s for d, s in zip(sizes, strides))
    if needed > stored or n > stored:  # overlapping (stride-0) views would be materialised
        fail(f"{fqn}: declared shape {tuple(sizes)} needs {max(needed, n)} elements but the archive "
             f"holds {stored} (corrupted or hostile file?)")
    if n == 0:
        return np.zeros(sizes, dt)
    flat = np.frombuffer(buf, dtype=dt.newbyteorder("<"), count=stored)
    contiguous = strides == _contiguous(sizes)
    if contiguous:
        return flat[offset:offset + n].reshape(sizes)
    view = np.lib.stride_tricks.as_strided(flat[offset:], shape=sizes,
                                           strides=[s * dt.itemsize for s in strides], writeable=False)
    return np.ascontiguousarray(view)


def _contiguous(sizes: list[int]) -> list[int]:
    out, acc = [], 1
    for d in reversed(sizes):
        out.append(acc)
        acc *= max(d, 1)
    return out[::-1]


def _static(path: str, fqn: str, what: str, sym: Any) -> int:
    if not isinstance(sym, dict) or not isinstance(sym.get("as_int"), int) or isinstance(sym.get("as_int"), bool):
        raise ModelLoadError(path, f"{fqn}: {what} {str(sym)[:60]} is not an integer (weights have static shapes)")
    return sym["as_int"]


# What torch resolves a node target or operator argument to: only registered operators
# (torch.ops.<namespace>.<op>[.<overload>]) and the symbolic-size helpers. Any other
# dotted name would be looked up on torch (torch.load, torch.hub.load, ...) and called
# with arguments from the file when the model runs.
_CALLABLE = re.compile(r"torch\.ops\.[A-Za-z_]\w*\.[A-Za-z_]\w*(\.[A-Za-z_]\w*)?"
                       r"|_operator\.(getitem|add|sub|mul|floordiv|truediv|mod|neg|pow|eq|ne|lt|le|gt|ge|and_|or_"
                       r"|not_|abs)|torch\.sym_(not|float|int|ite|max|min|sqrt|sum)|math\.(ceil|floor|trunc)")


def check_expressions(path: str, model: dict) -> None:
    """Parse every ``expr_str`` in the program with the expression grammar and check
    every node target and operator argument against ``_CALLABLE``; the first one outside
    is refused, naming where it sits (node or value)."""
    texts, callables = set(), set()
    for kind, value in _strings(model):
        (texts if kind == "expr" else callables).add(value)
    for name in callables:
        if not isinstance(name, str) or not _CALLABLE.fullmatch(name):
            raise ModelLoadError(path, f"refused: the program calls {str(name)[:80]!r}, which is not an operator "
                                       "(torch would call it when running the model). Pass --trust-code only if "
                                       "you trust the file")
    for text in texts:
        try:
            pt2_expr.parse(text)
        except pt2_expr.ExprError as e:
            where = next(w for w, t in _expr_strings(model) if t == text)
            raise ModelLoadError(path, f"refused: symbolic-shape expression at {where} is outside the "
                                       f"expression grammar ({e}); torch would evaluate it. Pass --trust-code "
                                       "only if you trust the file") from None


def _strings(obj: Any) -> Iterator[tuple[str, Any]]:
    """("expr", expr_str) and ("call", target or as_operator) for every one in the JSON
    (iterative walk, no bookkeeping)."""
    stack = [obj]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            if "expr_str" in v:
                yield "expr", v["expr_str"] if isinstance(v["expr_str"], str) else repr(v["expr_str"])
            if "target" in v and "inputs" in v:
                yield "call", v["target"]
            if "as_operator" in v:
                yield "call", v["as_operator"]
            stack.extend(x for x in v.values() if isinstance(x, (dict, list)))
        elif isinstance(v, list):
            stack.extend(x for x in v if isinstance(x, (dict, list)))


def _expr_strings(obj: Any) -> Iterator[tuple[str, Any]]:
    """(location, expr_str) for every expression in the JSON, to name a refused one."""
    stack: list[tuple[str, Any]] = [("program", obj)]
    while stack:
        where, v = stack.pop()
        if isinstance(v, dict):
            if "expr_str" in v:
                yield where, v["expr_str"] if isinstance(v["expr_str"], str) else repr(v["expr_str"])
            label = v.get("name") if isinstance(v.get("name"), str) and "target" in v else None
            for k, x in v.items():
                if isinstance(x, (dict, list)):
                    stack.append((f"node {label!r}" if label else (f"{where}.{k}"[-120:]), x))
        elif isinstance(v, list):
            stack.extend((where, x) for x in v if isinstance(x, (dict, list)))
