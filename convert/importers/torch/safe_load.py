"""Load a ``.pt2`` archive without running code from it.

``torch.export.load`` is not safe on untrusted files: weights and constants that were
saved "pickled" are read with ``torch.load(weights_only=False)``, opaque constants
with ``pickle.loads``, and a legacy archive whose payload fails a weights-only load is
retried with ``weights_only=False``. While an untrusted archive loads, every one of
those entry points is replaced: ``torch.load`` is forced to ``weights_only=True``
(tensors, containers and primitive types only) and raw unpickling is refused.
"""
from __future__ import annotations

import contextlib
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


def load_pt2(p: Path, trust_pickle: bool):
    """``torch.export.load`` with the archive's size checked first and, unless
    ``trust_pickle``, with code execution refused (ModelLoadError)."""
    import torch

    try:
        with zipfile.ZipFile(p) as zf:
            check_zip(str(p), zf, p.stat().st_size)
            check_records(str(p), zf)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ModelLoadError(str(p), f"not a torch.export archive ({e})") from None
    if trust_pickle:
        return torch.export.load(str(p))
    try:
        with no_code_execution(str(p)):
            return torch.export.load(str(p))
    except (RefusedPickle, pickle.UnpicklingError) as e:
        raise ModelLoadError(str(p), f"refused: {e}. Pass --trust-pickle only if you trust the file") from None
    except Exception as e:  # noqa: BLE001
        if "weights_only" in str(e) or "Weights only load failed" in str(e):
            raise ModelLoadError(str(p), "refused: the archive holds pickled Python objects beyond plain tensors; "
                                         "unpickling them could run code. Pass --trust-pickle only if you trust "
                                         "the file") from None
        raise
