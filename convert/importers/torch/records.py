"""Tensor records of a ``.pt2`` archive checked against the bytes behind them, before
torch allocates anything: a record declaring 2^31 elements with an empty member must be
an error, not a 16 GiB allocation followed by a failure."""
from __future__ import annotations

import posixpath
import zipfile

from ... import limits
from ...errors import ModelLoadError

# torch._export.serde.schema.ScalarType -> bytes per element (unknown codes count as 1,
# a lower bound: the check may only err towards accepting).
_ITEMSIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 2, 7: 4, 8: 8, 9: 4, 10: 8, 11: 16, 12: 1, 13: 2}
_CONFIGS = {"data/weights/model_weights_config.json": "data/weights",
            "data/constants/model_constants_config.json": "data/constants"}


def _ints(items, what: str, path: str) -> list[int] | None:
    out = []
    for it in items or []:
        if not isinstance(it, dict) or "as_int" not in it:
            return None  # symbolic: not a stored tensor's shape
        v = it["as_int"]
        if not isinstance(v, int) or isinstance(v, bool):
            raise ModelLoadError(path, f"{what}: {v!r} is not an integer")
        out.append(v)
    return out


def _needed(meta: dict, what: str, path: str) -> int | None:
    """Bytes the record's storage must hold (None when it cannot be told statically)."""
    sizes = _ints(meta.get("sizes"), what, path)
    strides = _ints(meta.get("strides"), what, path)
    offset = _ints([meta.get("storage_offset", {"as_int": 0})], what, path)
    if sizes is None or strides is None or offset is None:
        return None
    limits.check_elements(path, what, sizes)
    itemsize = _ITEMSIZE.get(meta.get("dtype"), 1)
    if 0 in sizes:
        return 0
    if len(strides) != len(sizes) or any(s < 0 for s in strides) or offset[0] < 0:
        raise ModelLoadError(path, f"{what}: strides {strides} / offset {offset[0]} do not fit sizes {sizes}")
    span = offset[0] + 1 + sum((n - 1) * s for n, s in zip(sizes, strides))
    return span * itemsize


def check_records(path: str, zf: zipfile.ZipFile) -> None:
    """Every plain tensor record of every model in the archive fits its member."""
    infos = {i.filename: i for i in zf.infolist()}
    for name in infos:
        for suffix, folder in _CONFIGS.items():
            if not name.endswith(suffix):
                continue
            root = name[: -len(suffix)]
            cfg = limits.load_json(path, limits.read_zip_member(path, zf, name), suffix)
            entries = cfg.get("config", {}) if isinstance(cfg, dict) else {}
            for key, rec in (entries.items() if isinstance(entries, dict) else []):
                if not isinstance(rec, dict) or rec.get("use_pickle") or not isinstance(rec.get("tensor_meta"), dict):
                    continue
                what = f"tensor record {key!r}"
                need = _needed(rec["tensor_meta"], what, path)
                member = infos.get(posixpath.join(root + folder, str(rec.get("path_name", ""))))
                if need is None or member is None:
                    continue
                if need > member.file_size:
                    raise ModelLoadError(path, f"{what} declares {need} bytes but its member holds "
                                               f"{member.file_size} (truncated, corrupted or hostile archive)")

