"""Which precision a target file computes in, read from the file, so that ``verify``
applies that precision's tolerances without ``--precision``.

nnconvert records the precision it wrote (``convert --precision``) in the file: ONNX
metadata and the torch-source safetensors header carry ``nnconvert.precision``; an ONNX
file nnconvert wrote without it computes in float32. Otherwise (a file from another tool,
a ``.pt2``) the weights tell: the float dtype holding most float weight elements is what
the model computes in (a half-precision model keeps a few float32 weights, a LayerNorm's
scale, so the majority decides, not the presence of one)."""
from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from ..flags import flag
from ..passes.precision import METADATA_KEY, PRECISIONS

_BY_DTYPE = {dt: name for name, dt in PRECISIONS.items()}  # "float16" -> "fp16"
_FLOATS = ("float16", "bfloat16", "float32", "float64")


def from_weights(counts: dict[str, int]) -> tuple[str, str] | None:
    """(precision, why) from float weight element counts per dtype; None without float weights."""
    floats = {k: n for k, n in counts.items() if k in _FLOATS and n > 0}
    total = sum(floats.values())
    if not total:
        return None
    major = max(sorted(floats), key=lambda k: floats[k])
    return _BY_DTYPE.get(major, "fp32"), f"its weights: {floats[major]:,} of {total:,} float weight elements {major}"


def _onnx(path: Path) -> tuple[str, str] | None:
    import onnx

    from ..importers.onnx.read import IR_DTYPE

    # the protobuf alone: external data is never opened here (only dims and dtypes are read)
    model = onnx.load(str(path), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    if meta.get(METADATA_KEY) in PRECISIONS:
        return meta[METADATA_KEY], f"the file's metadata {METADATA_KEY}"
    if model.producer_name == "nnconvert":
        return "fp32", f"written by nnconvert without {METADATA_KEY} metadata"
    counts: dict[str, int] = {}
    for t in model.graph.initializer:
        dt = IR_DTYPE.get(t.data_type, "")
        n = 1
        for d in t.dims:
            n *= max(int(d), 0)
        counts[dt] = counts.get(dt, 0) + n
    return from_weights(counts)


def _safetensors(path: Path) -> tuple[str, str] | None:
    from ..ir import safetensors

    header = safetensors.header(path)
    meta = header.get("__metadata__")
    if isinstance(meta, dict) and meta.get(METADATA_KEY) in PRECISIONS:
        return meta[METADATA_KEY], f"the weights file's metadata {METADATA_KEY}"
    counts: dict[str, int] = {}
    for name, arr in safetensors.read(path).items():  # memory-mapped: only dtypes and sizes are read
        counts[str(arr.dtype)] = counts.get(str(arr.dtype), 0) + int(arr.size)
    return from_weights(counts)


def file_precision(fmt_name: str, path: str | Path, run_target=None) -> tuple[str, str] | None:
    """(precision, where it came from) for a target file of a format with half-precision
    compute (onnx, torch, torch-source); None when the file does not say."""
    p = Path(path)
    if fmt_name == "onnx" and p.is_file():
        return _onnx(p)
    if fmt_name == "torch-source":
        st = (p if p.suffix == ".py" else p.with_suffix(".py")).with_suffix(".safetensors")
        return _safetensors(st) if st.is_file() else None
    graph = getattr(run_target, "graph", None)  # a .pt2 read back by nnconvert's importer
    if fmt_name == "torch" and graph is not None:
        counts: dict[str, int] = {}
        for w in graph.weights.values():
            counts[str(w.dtype)] = counts.get(str(w.dtype), 0) + int(w.size)
        return from_weights(counts)
    return None


def resolve_precision(fmt, path: str | Path, run_target, given: str | None,
                      given_from: str | None = None) -> tuple[str, str]:
    """The precision to verify ``path`` at and where it came from. ``given`` None: read
    from the file (float32 when it does not say). A ``given`` precision that the file
    contradicts is a usage error, unless ``given_from`` names who set it (a conversion
    that just wrote the file at that precision)."""
    if given is not None and given not in PRECISIONS:
        raise UsageError(f"unknown precision {given!r}; known: {', '.join(PRECISIONS)}")
    if given_from is not None:
        return given or "fp32", given_from
    found = file_precision(fmt.name, path, run_target) if fmt.half else None
    if given is None:
        return found if found is not None else ("fp32", "the default (the file does not state a precision)")
    if found is not None and found[0] != given:
        raise UsageError(f"{flag('precision', given)} contradicts {Path(path).name}, which computes in {found[0]} "
                         f"({found[1]}); drop {flag('precision', given)} to verify at {found[0]}")
    return given, "given" + (f", as {found[1]} says" if found is not None else "")
