"""Atomic outputs: a writer writes into a temporary folder beside the target; only when
it succeeds are the files renamed into place, so a failed or killed run leaves no
partial output, and existing files are kept unless ``force``."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import OutputExistsError


def check_free(paths: list[Path], force: bool) -> None:
    if force:
        return
    for p in paths:
        if p.exists():
            raise OutputExistsError(str(p))


@contextlib.contextmanager
def atomic_output(target: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path with the target's file name; every file the writer puts
    beside it in the temporary folder is moved next to ``target`` on success."""
    target = Path(target)
    check_free([target], force)
    parent = target.parent if str(target.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".nnconvert-", dir=parent))
    try:
        yield tmp / target.name
        produced = sorted(tmp.iterdir())
        check_free([parent / p.name for p in produced], force)
        for p in produced:
            dest = parent / p.name
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            os.replace(p, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
