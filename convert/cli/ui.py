"""Where the command line's own output goes, and the frameworks' chatter that does not.

TensorFlow (absl, oneDNN) and torch (symbolic-shape warnings, graph dumps) write to the
process's stdout/stderr from C++ and from their own logging handlers. Without -v/--debug
both file descriptors point at a scratch file for the whole command, and nnconvert's
own lines go to duplicates of the original descriptors."""
from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
from typing import Iterator, TextIO

import click

_streams: dict[str, TextIO | None] = {"out": None, "err": None}
_HANDLER_NAME = "nnconvert-cli"


def stream(err: bool = False) -> TextIO:
    """The stream the user sees (stderr for progress and messages, stdout for results)."""
    s = _streams["err" if err else "out"]
    return s if s is not None else click.get_text_stream("stderr" if err else "stdout")


def echo(message: str = "", err: bool = False, **style) -> None:
    click.secho(message, file=stream(err), **style)


def on_terminal() -> bool:
    try:
        return stream(err=True).isatty()
    except (AttributeError, ValueError):
        return False


def _real_fds() -> bool:
    try:
        return sys.stdout.fileno() == 1 and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):  # e.g. click's test runner
        return False


@contextlib.contextmanager
def quiet_frameworks(enabled: bool) -> Iterator[None]:
    """Send everything written to fds 1 and 2 to a scratch file; ``echo`` still reaches the user."""
    if not enabled or not _real_fds():
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    sink = tempfile.TemporaryFile()
    os.dup2(sink.fileno(), 1)
    os.dup2(sink.fileno(), 2)
    _streams["out"] = open(saved[0], "w", closefd=False, buffering=1)
    _streams["err"] = open(saved[1], "w", closefd=False, buffering=1)
    try:
        yield
    finally:
        for s in (sys.stdout, sys.stderr, _streams["out"], _streams["err"]):
            with contextlib.suppress(Exception):
                s.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        sink.close()
        _streams["out"] = _streams["err"] = None


@contextlib.contextmanager
def logging_restored() -> Iterator[None]:
    """Put nnconvert's logger back as it was after a command (the CLI may run inside a
    longer process, such as a test session, whose own log capture must keep working)."""
    ours, root = logging.getLogger("convert"), logging.getLogger()
    saved = list(ours.handlers), ours.level, ours.propagate, root.level
    try:
        yield
    finally:
        ours.handlers[:] = saved[0]
        ours.setLevel(saved[1])
        ours.propagate = saved[2]
        root.setLevel(saved[3])


def setup_logging(verbose: int, debug: bool) -> None:
    """-v/--debug: every logger, frameworks' included, at the chosen level. Otherwise only
    nnconvert's own warnings, on the user's stderr."""
    level = logging.WARNING - 10 * min(verbose, 2)
    ours = logging.getLogger("convert")
    for h in [h for h in ours.handlers if h.get_name() == _HANDLER_NAME]:
        ours.removeHandler(h)
    if verbose or debug:
        ours.propagate = True
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger().setLevel(level)
        return
    handler = logging.StreamHandler(stream(err=True))
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    ours.addHandler(handler)
    ours.setLevel(level)
    ours.propagate = False
