"""Atomic outputs: a writer writes into a temporary folder beside the target; only when
it succeeds are the files renamed into place, so a failed or killed run leaves no
partial output, and existing files are kept unless ``force``."""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import OutputExistsError, OutputWriteError, UsageError


def _occupied(p: Path) -> bool:
    """A path that holds something, a dangling symlink included (exists() says no)."""
    return p.exists() or p.is_symlink()


def check_free(paths: list[Path], force: bool) -> None:
    if force:
        return
    for p in paths:
        if _occupied(p):
            raise OutputExistsError(str(p))


def check_target(target: str | Path, folder: bool = False) -> None:
    """A single-file output must name a file: a directory (or a path ending in a
    separator) is a usage error, so --force can never delete a folder of the user's.
    ``folder`` marks formats whose output is itself a folder (nnir)."""
    text = str(target)
    p = Path(text)
    if text.endswith(("/", os.sep)) and not folder:
        raise UsageError(f"{text}: is a directory path; -o needs a file name (e.g. {text.rstrip('/' + os.sep) or '.'}/model.onnx)")
    if p.is_dir() and not p.is_symlink() and not folder:
        raise UsageError(f"{text}: is a directory; -o needs a file name, and --force never replaces a directory")


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


def _make_parents(parent: Path) -> list[Path]:
    """mkdir -p, returning the folders it created (deepest first) so a failed run can
    remove them again."""
    created = []
    p = parent
    while not p.exists() and p != p.parent:
        created.append(p)
        p = p.parent
    parent.mkdir(parents=True, exist_ok=True)
    return created


def _replaceable(dest: Path, new: Path) -> None:
    """--force replaces files the target writes, never a folder of the user's: a folder
    is replaced only by a folder output (nnir) and only when it holds nothing but
    entries the new folder also writes."""
    if not dest.is_dir() or dest.is_symlink():
        return
    if not new.is_dir():
        raise UsageError(f"{dest}: is a directory; --force never replaces a directory with a file")
    foreign = sorted({c.name for c in dest.iterdir()} - {c.name for c in new.iterdir()})
    if foreign:
        raise UsageError(f"{dest}: holds files nnconvert did not write ({', '.join(foreign[:3])}); not replaced")


# errors of the destination rather than of the model being written
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def check_space(path: str | Path, needed: int) -> None:
    """Raise ENOSPC before writing about ``needed`` bytes beside ``path`` where the file
    system has fewer free: some writers (torch's zip writer) cannot fail cleanly midway."""
    parent = Path(path).parent
    free = shutil.disk_usage(parent if str(parent) else ".").free
    if needed > free:
        raise OSError(errno.ENOSPC, f"No space left on device ({needed / 2**20:.1f} MiB needed, "
                                    f"{free / 2**20:.1f} MiB free)")


@contextlib.contextmanager
def atomic_output(target: str | Path, force: bool = False, folder: bool = False) -> Iterator[Path]:
    """Yield a temporary path with the target's file name; every file the writer puts
    beside it in the temporary folder is moved next to ``target`` on success. On
    failure nothing is left: neither the temporary folder nor parents it created."""
    check_target(target, folder)
    target = Path(target)
    check_free([target], force)
    parent = target.parent if str(target.parent) else Path(".")
    created = _make_parents(parent)
    done = False
    try:
        clean_stale(parent)
        tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=parent))
        try:
            try:
                yield tmp / target.name
            except OutputWriteError as e:  # raised by a writer about the temporary path
                raise OutputWriteError(str(target), e.problem) from e
            except OSError as e:
                if e.errno in WRITE_ERRNOS:
                    raise OutputWriteError(str(target), e.strerror or str(e)) from e
                raise
            # Companions (external data, caffemodel, safetensors) first, the file a user
            # opens last: once it exists, so do the files it refers to.
            produced = sorted(tmp.iterdir(),
                              key=lambda p: (p.name == target.name or p.suffix in ENTRY_SUFFIXES, p.name))
            check_free([parent / p.name for p in produced], force)
            for p in produced:
                _replaceable(parent / p.name, p)
            for p in produced:
                dest = parent / p.name
                if dest.is_dir() and not dest.is_symlink():
                    shutil.rmtree(dest)
                os.replace(p, dest)
            done = True
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if not done:
            for d in created:
                with contextlib.suppress(OSError):
                    d.rmdir()  # only if still empty


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
