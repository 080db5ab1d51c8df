"""How an option is named in a message: the CLI flag (``--force``) when the command line
runs, the API keyword (``force=True``) otherwise, so a hint can be followed as written.

The ``--input-shape`` syntax is declared here once; the CLI parses it and every hint that
suggests it is generated from it, so a hint always parses."""
from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

_CLI = contextvars.ContextVar("nnconvert_cli_spelling", default=False)

SHAPE_SEP = ":"      # NAME:D0,D1,...
DIM_SEP = ","
SHAPE_SYNTAX = f"NAME{SHAPE_SEP}D0{DIM_SEP}D1{DIM_SEP}..."


@contextlib.contextmanager
def cli_spelling() -> Iterator[None]:
    """Messages raised inside this block name command-line flags."""
    token = _CLI.set(True)
    try:
        yield
    finally:
        _CLI.reset(token)


def on_cli() -> bool:
    return _CLI.get()


def flag(keyword: str, value: object = True) -> str:
    """``flag("force")`` -> ``--force`` on the CLI, ``force=True`` in the API;
    ``flag("weights", "w.pt")`` -> ``--weights w.pt`` / ``weights='w.pt'``."""
    if _CLI.get():
        cli = "--" + keyword.replace("_", "-")
        return cli if value is True else f"{cli} {value}"
    return f"{keyword}={value!r}"


def shape_hint(shapes: dict[str, tuple]) -> str:
    """The option that sets these input shapes, as the user would type it."""
    if _CLI.get():
        return " ".join(f"--input-shape {n}{SHAPE_SEP}{DIM_SEP.join(map(str, d))}" for n, d in shapes.items())
    return f"input_shapes={ {n: tuple(d) for n, d in shapes.items()} !r}"
