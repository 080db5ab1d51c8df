"""Parsing helpers shared by CLI commands."""
from __future__ import annotations

import click

from ..flags import DIM_SEP, SHAPE_SEP, SHAPE_SYNTAX


def parse_shapes(values: tuple[str, ...]) -> dict[str, tuple] | None:
    """--input-shape NAME:D0,D1,...: a number is a static size, a name or -1 a dynamic one."""
    if not values:
        return None
    out: dict[str, tuple] = {}
    for v in values:
        name, sep, dims = v.rpartition(SHAPE_SEP)
        if not sep or not name or not dims:
            raise click.BadParameter(f"{v!r} is not {SHAPE_SYNTAX}", param_hint="--input-shape")
        parsed = []
        for d in dims.split(DIM_SEP):
            d = d.strip()
            try:
                parsed.append(int(d))
            except ValueError:
                if not d.isidentifier():
                    raise click.BadParameter(f"bad dimension {d!r} in {v!r}", param_hint="--input-shape") from None
                parsed.append(d)
        out[name] = tuple(parsed)
    return out


def parse_inputs(values: tuple[str, ...], npz: str | None) -> dict | None:
    import numpy as np

    arrays: dict = {}
    if npz:
        arrays.update(dict(np.load(npz)))
    for v in values:
        name, sep, path = v.partition("=")
        if not sep:
            raise click.BadParameter(f"{v!r} is not NAME=FILE.npy", param_hint="--input")
        arrays[name] = np.load(path)
    return arrays or None
