"""Read a Keras file without Keras: the model config (JSON) and the weights (h5py).

Two containers:
- ``.keras`` (Keras 3, also written by tf.keras >= 2.13): a zip of ``metadata.json``,
  ``config.json`` and ``model.weights.h5``. Weights live under ``layers/<group>/vars/<i>``,
  where ``<group>`` is the snake-cased class name made unique within its container (the
  rule of ``keras.saving``), and newer writers also record the layer name as an attribute.
- legacy HDF5 (``model.save("x.h5")``): attribute ``model_config`` plus group
  ``model_weights/<layer name>`` whose ``weight_names`` attribute orders the arrays.

The result is a tree of :class:`LayerWeights` addressed by layer name, so the
importer never needs to know which container it came from.
"""
from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import ModelLoadError
from ... import limits
from ...memory import returned_empty

SUPPORTED_MAJOR = ("2", "3")
# Order in which a layer's sub-objects contribute to its flat weight list (= layer.weights).
CHILD_ORDER = ("cell", "forward_layer", "backward_layer", "layer")


@dataclass
class LayerWeights:
    """The arrays of one layer in ``layer.weights`` order, and (for a nested model) its layers."""

    arrays: list[np.ndarray] = field(default_factory=list)
    layers: dict[str, "LayerWeights"] = field(default_factory=dict)
    by_class: dict[str, "LayerWeights"] = field(default_factory=dict)  # snake-case group names
    names: list[str] = field(default_factory=list)  # legacy weight names, for nested models
    parts: dict[str, "LayerWeights"] = field(default_factory=dict)  # a layer's own sublayers (MHA's query_dense)

    def sublayer(self, name: str, group_name: str | None) -> "LayerWeights":
        if name in self.layers:
            return self.layers[name]
        if group_name and group_name in self.by_class:
            return self.by_class[group_name]
        if self.names:  # legacy h5: the nested model's arrays carry the inner layer name
            picked = [(n, a) for n, a in zip(self.names, self.arrays) if name in n.split("/")[:-1]]
            return LayerWeights([a for _, a in picked], names=[n for n, _ in picked])
        return LayerWeights()


class StoredArray:
    """A weights dataset stored contiguously and unfiltered in a plain file, read from its
    bytes when a layer takes it rather than when the file is read: converting never holds
    the file's arrays beside the IR's (transposed) copies. Offset and size were checked
    against the bytes behind them when the file was read. ``numpy.asarray`` reads it."""

    def __init__(self, path: str, offset: int, shape: tuple, dtype: np.dtype):
        self.path, self.offset, self.shape, self.dtype = path, offset, tuple(shape), np.dtype(dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def read(self) -> np.ndarray:
        arr = returned_empty(self.shape, self.dtype)
        raw = arr.reshape(-1).view(np.uint8)
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            got = f.readinto(memoryview(raw)) or 0
        if got != raw.size:
            raise ModelLoadError(self.path, f"truncated: a weights dataset ends {raw.size - got} bytes past the file")
        return arr

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        arr = self.read()
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def astype(self, dtype, copy: bool = True) -> np.ndarray:
        return self.read().astype(dtype, copy=False)


@dataclass
class KerasArchive:
    config: dict
    weights: LayerWeights
    keras_version: str
    container: str  # "keras" or "h5"
    path: str
    budget: "limits.Budget | None" = None  # what the file's weights left for constants the importer creates


def to_snake_case(name: str) -> str:
    """keras.src.utils.naming.to_snake_case."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def read(path: str | Path) -> KerasArchive:
    """Read a ``.keras`` or legacy ``.h5`` model file; every failure is a ModelLoadError."""
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(str(path), "no such file")
    with open(path, "rb") as f:
        magic = f.read(8)
    if magic.startswith(b"PK"):
        return _read_zip(path)
    if magic == b"\x89HDF\r\n\x1a\n":
        return _read_h5(path)
    raise ModelLoadError(str(path), "not a Keras file (neither a .keras zip archive nor an HDF5 file)")


def _check_version(path: Path, version: str | None) -> str:
    if not version:
        raise ModelLoadError(str(path), "the file records no Keras version")
    if version.split(".")[0] not in SUPPORTED_MAJOR:
        raise ModelLoadError(str(path), f"unknown Keras version {version!r} (supported: 2.x and 3.x)")
    return version


def _read_zip(path: Path) -> KerasArchive:
    import h5py

    try:
        with zipfile.ZipFile(path) as zf:
            limits.check_zip(str(path), zf, path.stat().st_size)
            names = set(zf.namelist())
            for need in ("config.json", "metadata.json", "model.weights.h5"):
                if need not in names:
                    raise ModelLoadError(str(path), f"archive has no {need}")
            meta = limits.load_json(str(path), limits.read_zip_member(str(path), zf, "metadata.json"), "metadata.json")
            config = limits.load_json(str(path), limits.read_zip_member(str(path), zf, "config.json"), "config.json")
            info = zf.getinfo("model.weights.h5")
            if info.compress_type == zipfile.ZIP_STORED:  # what Keras writes: read in place
                data = _StoredMember(path, info)
                stored = (str(path), data.start, data.size)
            else:
                data = io.BytesIO(limits.read_zip_member(str(path), zf, "model.weights.h5"))
                stored = None
    except ModelLoadError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, KeyError, zlib.error,
            NotImplementedError) as e:
        raise ModelLoadError(str(path), f"corrupted or truncated .keras archive ({e})") from None
    if not isinstance(meta, dict) or not isinstance(config, dict):
        raise ModelLoadError(str(path), "metadata.json / config.json is not a JSON object")
    version = _check_version(path, meta.get("keras_version"))
    try:
        with data, h5py.File(data, "r") as h5:
            budget = _Budget(str(path), path.stat().st_size, stored=stored)
            root = _k3_node(h5, budget)
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise ModelLoadError(str(path), f"model.weights.h5 cannot be read ({e})") from None
    return KerasArchive(config, root, version, "keras", str(path), budget.bytes)




class _StoredMember(io.RawIOBase):
    """A read-only window onto an uncompressed zip member, CRC-checked on open: h5py reads
    the weights straight from the archive, so they are not held in memory twice."""

    def __init__(self, path: Path, info: zipfile.ZipInfo):
        self.f = open(path, "rb")
        self.f.seek(info.header_offset)
        head = self.f.read(30)
        if len(head) < 30 or head[:4] != b"PK\x03\x04":
            self.f.close()
            raise zipfile.BadZipFile(f"bad local header for {info.filename}")
        name_len, extra_len = struct.unpack("<HH", head[26:30])
        self.start, self.size, self.pos = info.header_offset + 30 + name_len + extra_len, info.file_size, 0
        crc, buf = 0, bytearray(1 << 20)
        while self.pos < self.size:
            n = self.readinto(buf)
            if not n:
                break
            crc = zlib.crc32(memoryview(buf)[:n], crc)
        if self.pos != self.size or crc != info.CRC:
            self.f.close()
            raise zipfile.BadZipFile(f"bad CRC-32 or truncated member {info.filename}")
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.pos = max(0, {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence] + offset)
        return self.pos

    def readinto(self, b) -> int:
        n = max(0, min(len(b), self.size - self.pos))
        self.f.seek(self.start + self.pos)
        got = self.f.readinto(memoryview(b).cast("B")[:n]) or 0
        self.pos += got
        return got

    def close(self) -> None:
        self.f.close()
        super().close()


# HDF5 filters that only transform bytes inside the file (deflate, shuffle, fletcher32,
# szip, nbit, scaleoffset, lzf); any other filter id makes HDF5 look for a plugin library.
_BUILTIN_FILTERS = {1, 2, 3, 4, 5, 6, 32000}


class _Budget:
    """The one way the reader touches HDF5 objects. A weights file is hostile:

    - declared dataset sizes are checked before reading, so a small file cannot make the
      reader allocate more than the bound of ``limits`` (chunked datasets may declare any
      shape; unwritten chunks read back as fill values);
    - only data stored inside the file is read: external links, soft links leaving
      ``root``, datasets with external storage and virtual datasets are refused (each
      would read another file on this machine), as are filters that need a plugin;
    - every group and dataset is visited once: groups hard-linked to each other as a DAG
      cannot make the walk exponential, and a dataset cannot be counted twice."""

    def __init__(self, path: str, file_size: int, root: str = "/", stored: tuple[str, int, int] | None = None):
        self.path = path
        self.stored = stored  # (file, start, size) of the HDF5 bytes in a plain file, for StoredArray
        self.bytes = limits.Budget(path, file_size)
        self.root = root.rstrip("/") or "/"
        self.seen: set[tuple[int, int]] = set()

    def refuse(self, what: str, why: str) -> ModelLoadError:
        return ModelLoadError(self.path, f"weights object {what} {why}; refused (a model file may only hold its "
                                         f"own data)")

    def child(self, group, name: str, once: bool = True):
        """``group[name]`` after checking the link; with ``once``, an object reached a
        second time is refused."""
        import posixpath

        import h5py

        what = f"{group.name.rstrip('/')}/{name}"
        link = group.get(name, getlink=True)
        if link is None:
            raise KeyError(what)
        if isinstance(link, h5py.ExternalLink):
            raise self.refuse(what, f"is an external link to {link.filename}:{link.path}")
        if isinstance(link, h5py.SoftLink):
            target = posixpath.normpath(posixpath.join(group.name, link.path))
            if self.root != "/" and not (target == self.root or target.startswith(self.root + "/")):
                raise self.refuse(what, f"is a soft link leaving {self.root} (to {link.path})")
        obj = group[name]
        if not once:
            return obj
        info = h5py.h5o.get_info(obj.id)
        key = (info.fileno, info.addr)
        if key in self.seen:
            raise self.refuse(what, "is linked from more than one place (a hard-link cycle or DAG)")
        self.seen.add(key)
        return obj

    def names(self, group) -> list[str]:
        return list(group.keys())

    def read(self, ds, what: str) -> np.ndarray:
        import h5py

        if not isinstance(ds, h5py.Dataset):
            raise ModelLoadError(self.path, f"{what} is not an HDF5 dataset")
        if ds.external:
            raise self.refuse(what, f"keeps its data in another file ({ds.external[0][0]!r})")
        if ds.is_virtual:
            raise self.refuse(what, "is a virtual dataset (its data lives in other datasets or files)")
        plist = ds.id.get_create_plist()
        for i in range(plist.get_nfilters()):
            fid = plist.get_filter(i)[0]
            if fid not in _BUILTIN_FILTERS:
                raise self.refuse(what, f"needs HDF5 filter plugin {fid}")
        if ds.dtype.kind not in "fiub" or ds.dtype.itemsize > 8:
            # complex, string, compound...: refused, never cast (a cast would drop the imaginary part)
            raise ModelLoadError(self.path, f"weights dataset {what} has dtype {ds.dtype}, which nnconvert does not "
                                            f"convert (real numbers only; nothing is cast silently)")
        self.bytes.claim(f"weights dataset {what} declares", ds.shape or (), ds.dtype.itemsize)
        return self._stored(ds, plist, what) or np.asarray(ds)

    def _stored(self, ds, plist, what: str) -> StoredArray | None:
        """``ds`` as a StoredArray where its bytes lie contiguously in the plain file, else None."""
        import h5py

        if self.stored is None or plist.get_nfilters() or plist.get_layout() != h5py.h5d.CONTIGUOUS:
            return None
        offset = ds.id.get_offset()
        if offset is None:  # not yet written: HDF5 gives fill values
            return None
        file, start, size = self.stored
        nbytes = int(np.prod(ds.shape or (), dtype=np.int64)) * ds.dtype.itemsize
        if offset < 0 or offset + nbytes > size:
            raise ModelLoadError(self.path, f"weights dataset {what} lies past the end of its HDF5 file")
        return StoredArray(file, start + offset, ds.shape or (), ds.dtype)


def _k3_node(group, budget: _Budget, depth: int = 0) -> LayerWeights:
    """One saveable object of a Keras 3 weights file, recursively."""
    import h5py

    if depth > limits.MAX_JSON_DEPTH:
        raise ModelLoadError(budget.path, "weights file nests groups too deeply")
    node = LayerWeights()
    names = budget.names(group)
    if "vars" in names:
        v = budget.child(group, "vars")
        node.arrays = [budget.read(budget.child(v, str(i)), f"{v.name}/{i}") for i in range(len(v))]
    for child in CHILD_ORDER + tuple(sorted(k for k in names if k not in CHILD_ORDER)):
        if child in ("vars", "layers") or child not in names:
            continue
        g = budget.child(group, child)
        if isinstance(g, h5py.Group):
            part = _k3_node(g, budget, depth + 1)
            node.parts[child] = part
            node.arrays += part.arrays
    if "layers" in names:
        layers = budget.child(group, "layers")
        for gname in budget.names(layers):
            g = budget.child(layers, gname)
            sub = _k3_node(g, budget, depth + 1)
            node.by_class[gname] = sub
            named = g["vars"].attrs.get("name") if "vars" in g else None
            if named is not None:
                node.layers[str(named)] = sub
    return node


def _path(budget: _Budget, group, rel: str):
    """A dataset by its slash-separated path under ``group`` (legacy weight names such as
    ``dense/kernel:0``), every step through the checked ``child``."""
    parts = [p for p in rel.split("/") if p] or [rel]
    obj = group
    for i, part in enumerate(parts):
        obj = budget.child(obj, part, once=i == len(parts) - 1)  # folders are shared by a layer's arrays
    return obj


def _read_h5(path: Path) -> KerasArchive:
    import h5py

    budget = _Budget(str(path), path.stat().st_size, stored=(str(path), 0, path.stat().st_size))
    try:
        with h5py.File(path, "r") as h5:
            raw = h5.attrs.get("model_config")
            if raw is None:
                raise ModelLoadError(str(path), "HDF5 file has no model_config (a weights-only file?)")
            config = limits.load_json(str(path), raw, "model_config")
            if not isinstance(config, dict):
                raise ModelLoadError(str(path), "model_config is not a JSON object")
            version = h5.attrs.get("keras_version")
            version = version.decode() if isinstance(version, bytes) else version
            if "model_weights" not in h5:
                raise ModelLoadError(str(path), "HDF5 file has no model_weights group")
            budget.root = "/model_weights"
            mw = budget.child(h5, "model_weights")
            root = LayerWeights()
            for lname in budget.names(mw):
                g = budget.child(mw, lname)
                wnames = [n.decode() if isinstance(n, bytes) else str(n) for n in g.attrs.get("weight_names", [])]
                arrays = [budget.read(_path(budget, g, n), f"{lname}/{n}") for n in wnames]
                root.layers[lname] = LayerWeights(arrays, names=wnames)
    except ModelLoadError:
        raise
    except (OSError, KeyError, ValueError, TypeError, AttributeError) as e:
        raise ModelLoadError(str(path), f"corrupted or truncated HDF5 model file ({e})") from None
    version = _check_version(path, version)
    return KerasArchive(config, root, version, "h5", str(path), budget.bytes)
