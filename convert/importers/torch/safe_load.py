"""Let torch load a ``.pt2`` archive: as it is (trusted), or after the archive reader
validated it (to run the source model for verification).

``torch.export.load`` is not safe on untrusted files: it unpickles members
(``torch.load(weights_only=False)``, ``pickle.loads``), hands shape expressions to
sympy (which evaluates them), compiles guard code and loads AOTInductor libraries. A
validated archive has none of that; while torch loads it, the unpickling entry points
are still replaced (``torch.load`` forced to ``weights_only=True``, raw unpickling
refused) as a second line of defence.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import pickle
import zipfile
from pathlib import Path
from typing import Iterator

from ...errors import ModelLoadError
from ...limits import check_zip
from .records import check_records


class RefusedPickle(Exception):
    """Raised in place of an unpickling call that could run code."""


@contextlib.contextmanager
def no_code_execution(path: str) -> Iterator[None]:
    import torch

    real_load = torch.load
    real_pickle_loads = pickle.loads
    real_c_load = getattr(torch._C, "_pickle_load_obj", None)

    def weights_only_load(*args, **kwargs):
        kwargs["weights_only"] = True
        return real_load(*args, **kwargs)

    def refuse(*_a, **_k):
        raise RefusedPickle("the archive holds a pickled Python object; unpickling it could run code")

    torch.load = weights_only_load
    pickle.loads = refuse
    if real_c_load is not None:
        torch._C._pickle_load_obj = refuse
    try:
        yield
    finally:
        torch.load = real_load
        pickle.loads = real_pickle_loads
        if real_c_load is not None:
            torch._C._pickle_load_obj = real_c_load


def load_trusted(p: Path):
    """Plain ``torch.export.load`` (``--trust-code``), with the archive's size checked first."""
    import torch

    try:
        with zipfile.ZipFile(p) as zf:
            check_zip(str(p), zf, p.stat().st_size)
            check_records(str(p), zf)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ModelLoadError(str(p), f"not a torch.export archive ({e})") from None
    return torch.export.load(str(p))


def load_validated(archive):
    """torch.export.load of an archive ``pt2_archive.read_pt2`` accepted, for running the
    source. torch sees a copy holding only the members the reader validated (no sample
    inputs, which are a pickle; no compiled code; every expression inside the grammar;
    guard code removed): the file is read once more and those very bytes validated again, so
    a file changed in between cannot slip through; the unpickling entry points stay
    refused as a second line of defence."""
    import io

    import torch

    from .pt2_archive import read_pt2

    if not archive.legacy and importlib.util.find_spec("torch.export.pt2_archive") is None:
        raise ModelLoadError(archive.path, f"is in the PT2 archive layout (written by torch {archive.torch_version}), "
                                           f"which torch {torch.__version__} cannot load to run it (converting needs "
                                           "no torch; --verify needs a torch that reads that layout)")
    try:
        data = Path(archive.path).read_bytes()
    except OSError as e:
        raise ModelLoadError(archive.path, f"cannot be read again to run it ({e.strerror or e})") from None
    checked = read_pt2(archive.path, data)  # validate exactly the bytes torch will see
    if checked.model != archive.model:
        raise ModelLoadError(archive.path, "changed on disk since it was converted")
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(buf, "w") as zout:
        for name in checked.validated:
            info = zin.getinfo(name)
            data = zin.read(info)
            if name == archive.program_member and "guards_code" in checked.model:
                # guards only check input sizes, and ours are consistent (torch before 2.8 has no field)
                data = json.dumps({**checked.model, "guards_code": []}).encode()
            zout.writestr(info, data, compress_type=zipfile.ZIP_STORED)
        samples = (["serialized_example_inputs.pt"] if archive.legacy else
                   [f"{archive.root}data/sample_inputs/{model}.pt" for model in archive.models])
        for member in samples:  # torch requires sample inputs: ours, not the file's pickle
            sample = io.BytesIO()
            torch.save((_sample_inputs(archive.model), {}), sample)
            zout.writestr(member, sample.getvalue())
    buf.seek(0)
    try:
        with quiet_export_log():
            return _load_refusing_code(archive.path, buf)
    except ModelLoadError:
        raise
    except Exception as e:  # noqa: BLE001
        text = str(e).strip().splitlines()
        raise ModelLoadError(archive.path, f"torch cannot load the archive to run it: {type(e).__name__}: "
                                           f"{text[0] if text else ''}") from e


@contextlib.contextmanager
def quiet_export_log() -> Iterator[None]:
    """torch.export logs a traceback before re-raising; the caller reports one line."""
    import logging

    logger = logging.getLogger("torch.export")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _sample_inputs(model: dict) -> tuple:
    """Zeros shaped like the user inputs (symbolic dims at their recorded example size)."""
    import torch

    from .pt2_archive import SCALAR_TYPES

    gm = model["graph_module"]
    values = gm["graph"].get("tensor_values") or {}
    out = []
    for spec in gm["signature"].get("input_specs") or []:
        arg = (spec.get("user_input") or {}).get("arg") or {}
        meta = values.get((arg.get("as_tensor") or {}).get("name"))
        if meta is None:
            continue
        dims = [d["as_int"] if "as_int" in d else ((d["as_expr"].get("hint") or {}).get("as_int") or 2)
                for d in meta["sizes"]]
        dtype = getattr(torch, SCALAR_TYPES.get(meta["dtype"], (None, "torch.float32"))[1].split(".")[1])
        out.append(torch.zeros(dims, dtype=dtype))
    return tuple(out)


def _load_refusing_code(path: str, f):
    import torch

    try:
        with no_code_execution(path):
            return torch.export.load(f)
    except (RefusedPickle, pickle.UnpicklingError) as e:
        raise ModelLoadError(path, f"refused: {e}. Pass --trust-pickle only if you trust the file") from None
    except Exception as e:  # noqa: BLE001
        if "weights_only" in str(e) or "Weights only load failed" in str(e):
            raise ModelLoadError(path, "refused: the archive holds pickled Python objects beyond plain tensors; "
                                       "unpickling them could run code. Pass --trust-pickle only if you trust "
                                       "the file") from None
        raise
