"""Structure-aware mutations of model files for the fuzz tests: edits of JSON fields,
HDF5 datasets and attributes, protobuf fields and length prefixes, and zip members --
the places a crafted file lies, rather than random bytes."""
from __future__ import annotations

import copy
import io
import json
import struct
import zipfile

from hypothesis import strategies as st

# Values a hostile file puts where a number, a name or a list belongs.
HOSTILE = st.one_of(
    st.sampled_from([0, -1, 1, 3, 2**31, 2**62, -(2**63), 1e308, float("nan"), float("inf"), "", None, True,
                     [], {}, [[[]]], [2**40, 2**40], [-1, 4], "\r\x1b[2J\u202e", "a\"\"\"b'''c\\n{}", "x" * 5000]),
    st.integers(-5, 70),
    st.text(max_size=12),
)


def json_paths(doc) -> list[tuple]:
    """The path of every value in a JSON document (iterative: deep documents are fine)."""
    out, stack = [], [((), doc)]
    while stack:
        path, v = stack.pop()
        out.append(path)
        if isinstance(v, dict):
            stack.extend((path + (k,), x) for k, x in v.items())
        elif isinstance(v, list):
            stack.extend((path + (i,), x) for i, x in enumerate(v))
    return sorted(out, key=repr)


@st.composite
def json_edits(draw, doc, n: int = 3):
    paths = [p for p in json_paths(doc) if p]
    return [(draw(st.sampled_from(paths)), draw(st.sampled_from(["replace", "delete", "duplicate"])), draw(HOSTILE))
            for _ in range(draw(st.integers(1, n)))]


def apply_json(doc, edits):
    doc = copy.deepcopy(doc)
    for path, kind, value in edits:
        parent = doc
        try:
            for k in path[:-1]:
                parent = parent[k]
            key = path[-1]
            if kind == "replace":
                parent[key] = value
            elif kind == "delete":
                del parent[key]
            elif isinstance(parent, list):
                parent.insert(key, copy.deepcopy(parent[key]))
            else:
                parent[str(key) + "_copy"] = copy.deepcopy(parent[key])
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed the path
    return doc


def dumps(doc) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


# -- HDF5 ------------------------------------------------------------------------------------
H5_EDIT = st.tuples(st.sampled_from(["shape", "dtype", "attr", "delete", "hardlink", "group"]),
                    st.integers(0, 1000),
                    st.sampled_from([(0,), (1,), (3, 4), (4, 3), (2**20, 2**20), (2**31,), (7, 0, 2)]),
                    st.sampled_from(["f2", "f8", "i8", "u1", "c8", "S4", "?"]),
                    HOSTILE)


def h5_datasets(f) -> list[str]:
    import h5py

    names: list[str] = []
    f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return sorted(names)


def apply_h5(f, edits) -> None:
    """Edit an open (writable) h5py.File: reshape, retype, delete or alias datasets, set attributes."""
    import h5py
    import numpy as np

    for kind, pick, shape, dtype, value in edits:
        names = h5_datasets(f)
        groups: list[str] = []
        f.visititems(lambda n, o: groups.append(n) if isinstance(o, h5py.Group) else None)
        if not names:
            return
        name = names[pick % len(names)]
        if kind == "shape":
            del f[name]
            big = int(np.prod(shape)) > 2**16
            f.create_dataset(name, shape=shape, dtype="f4", chunks=tuple(max(1, min(d, 64)) for d in shape) if big
                             else None, data=None if big else np.ones(shape, "f4"))
        elif kind == "dtype":
            data = np.asarray(f[name])
            del f[name]
            f[name] = data.astype(dtype) if dtype != "S4" else np.full(data.shape, b"ab", "S4")
        elif kind == "attr":
            target = f[groups[pick % len(groups)]] if groups else f
            target.attrs["name" if pick % 2 else "weight_names"] = json.dumps(value, allow_nan=True)
        elif kind == "delete":
            del f[name]
        elif kind == "hardlink" and groups:
            f[f"{groups[pick % len(groups)]}/alias_{pick}"] = f[name]
        elif kind == "group" and groups:
            g = groups[pick % len(groups)]
            f[f"{g}/self_{pick}"] = f[g]  # a group inside itself: a cycle


# -- protobuf ---------------------------------------------------------------------------------
def _varint(b: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while i < len(b):
        c = b[i]
        n |= (c & 0x7F) << shift
        i += 1
        shift += 7
        if not c & 0x80:
            return n, i
    raise ValueError("truncated varint")


def _enc(n: int) -> bytes:
    out = bytearray()
    while True:
        c = n & 0x7F
        n >>= 7
        out.append(c | (0x80 if n else 0))
        if not n:
            return bytes(out)


def length_fields(b: bytes) -> list[tuple[int, int, int]]:
    """(start of the length varint, its end, the length) of each top-level
    length-delimited field of a serialized message."""
    out, i = [], 0
    try:
        while i < len(b):
            tag, i = _varint(b, i)
            wire = tag & 7
            if wire == 0:
                _, i = _varint(b, i)
            elif wire == 1:
                i += 8
            elif wire == 5:
                i += 4
            elif wire == 2:
                s = i
                n, i = _varint(b, i)
                out.append((s, i, n))
                i += n
            else:
                break
    except ValueError:
        pass
    return out


def set_length(b: bytes, which: int, delta: int) -> bytes:
    """Change one length prefix (the bytes behind it stay): a field that claims more or
    fewer bytes than it holds."""
    fields = length_fields(b)
    if not fields:
        return b
    s, e, n = fields[which % len(fields)]
    return b[:s] + _enc(max(0, n + delta)) + b[e:]


CAFFE_FIELDS = ["type", "name", "bottom", "top", "num_output", "kernel_size", "pad", "stride", "blob_dim",
                "blob_data", "input_dim", "pool"]


def apply_caffe(net, edits) -> None:
    """Edit a caffe_pb2.NetParameter in place: layer fields, blob shapes and data, inputs."""
    for field_name, pick, value in edits:
        layers = list(net.layer)
        if not layers:
            return
        layer = layers[pick % len(layers)]
        num = value if isinstance(value, int) and not isinstance(value, bool) else pick
        num = max(0, min(num, 2**32 - 1))
        text = value if isinstance(value, str) else str(value)
        try:
            if field_name == "type":
                layer.type = text
            elif field_name == "name":
                layer.name = text
            elif field_name in ("bottom", "top"):
                seq = getattr(layer, field_name)
                if len(seq):
                    seq[0] = text
                else:
                    seq.append(text)
            elif field_name == "num_output":
                layer.convolution_param.num_output = num
            elif field_name in ("kernel_size", "pad", "stride"):
                getattr(layer.convolution_param, field_name)[:] = [num]
            elif field_name == "pool":
                layer.pooling_param.kernel_size = num
            elif field_name == "blob_dim" and len(layer.blobs):
                layer.blobs[0].shape.dim[:] = [num, 2**31 if pick % 3 == 0 else 3]
            elif field_name == "blob_data" and len(layer.blobs):
                del layer.blobs[0].data[pick % max(len(layer.blobs[0].data), 1):]
            elif field_name == "input_dim" and len(net.input_shape):
                net.input_shape[0].dim[pick % len(net.input_shape[0].dim)] = num
        except (TypeError, ValueError, UnicodeError):
            continue


# -- zip ---------------------------------------------------------------------------------
ZIP_EDIT = st.tuples(st.sampled_from(["drop", "empty", "duplicate", "rename", "extra", "deflate"]),
                     st.integers(0, 1000), HOSTILE)


def rebuild_zip(raw: bytes, members: dict[str, bytes] | None = None, edits=()) -> bytes:
    """The archive with ``members`` replaced and member-level ``edits`` applied."""
    with zipfile.ZipFile(io.BytesIO(raw)) as zin:
        items = [(i.filename, (members or {}).get(i.filename, zin.read(i)), i.compress_type) for i in zin.infolist()]
    for kind, pick, value in edits:
        if not items:
            break
        k = pick % len(items)
        name, data, comp = items[k]
        if kind == "drop":
            items.pop(k)
        elif kind == "empty":
            items[k] = (name, b"", comp)
        elif kind == "duplicate":
            items.append((name, dumps(value), comp))
        elif kind == "rename":
            items[k] = (name + "_", data, comp)
        elif kind == "extra":
            items.append((f"../../extra_{pick}", dumps(value), comp))
        elif kind == "deflate":
            items[k] = (name, data, zipfile.ZIP_DEFLATED)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zout:
        for name, data, comp in items:
            zout.writestr(zipfile.ZipInfo(name), data, compress_type=comp)
    return out.getvalue()


def safetensors_parts(raw: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def safetensors_join(header: dict, data: bytes) -> bytes:
    h = dumps(header)
    return struct.pack("<Q", len(h)) + h + data
