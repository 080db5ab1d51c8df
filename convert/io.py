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


TMP_PREFIX = ".nnconvert-"
ENTRY_SUFFIXES = (".onnx", ".prototxt", ".py", ".pt2", ".keras")  # files that refer to their companions


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(parent: Path) -> None:
    """Remove temporary folders of conversions that were killed (their process is gone)."""
    for d in parent.glob(TMP_PREFIX + "*"):
        pid = d.name[len(TMP_PREFIX):].split("-", 1)[0]
        if d.is_dir() and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def atomic_output(target: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path with the target's file name; every file the writer puts
    beside it in the temporary folder is moved next to ``target`` on success."""
    target = Path(target)
    check_free([target], force)
    parent = target.parent if str(target.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    clean_stale(parent)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=parent))
    try:
        yield tmp / target.name
        # Companions (external data, caffemodel, safetensors) first, the file a user
        # opens last: once it exists, so do the files it refers to.
        produced = sorted(tmp.iterdir(), key=lambda p: (p.name == target.name or p.suffix in ENTRY_SUFFIXES, p.name))
        check_free([parent / p.name for p in produced], force)
        for p in produced:
            dest = parent / p.name
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            os.replace(p, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# Reproducible archives: every member dated 1980-01-01 (the zip epoch) unless
# SOURCE_DATE_EPOCH (the reproducible-builds convention) says otherwise.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def fixed_date() -> tuple:
    sde = os.environ.get("SOURCE_DATE_EPOCH")
    if sde and sde.isdigit():
        import time

        return tuple(time.gmtime(max(int(sde), 315532800))[:6])
    return ZIP_EPOCH


def normalize_zip(path: str | Path, rewrite: dict | None = None) -> None:
    """Rewrite the zip at ``path`` byte-reproducibly: same members in the same order and
    compression, fixed timestamps and permissions; ``rewrite`` maps a member name to a
    function bytes -> bytes (e.g. to pin a save date recorded inside a member)."""
    import zipfile

    path = Path(path)
    tmp = path.with_name(path.name + ".norm")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if rewrite and info.filename in rewrite:
                data = rewrite[info.filename](data)
            out = zipfile.ZipInfo(info.filename, date_time=fixed_date())
            out.compress_type = info.compress_type
            out.external_attr = 0o644 << 16 if not info.is_dir() else (0o755 << 16) | 0x10
            out.create_system = 3
            dst.writestr(out, data)
    os.replace(tmp, path)
