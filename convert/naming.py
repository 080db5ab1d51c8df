"""Fresh names: one rule (append _1, _2, ...) for every namespace nnconvert fills."""
from __future__ import annotations

from typing import Callable, Container, MutableSet


def fresh(base: str, taken: Container[str], also: Callable[[str], bool] | None = None) -> str:
    """``base``, or ``base_1``, ``base_2``, ... the first not in ``taken`` (nor ``also``)."""
    name, i = base, 1
    while name in taken or (also is not None and also(name)):
        name = f"{base}_{i}"
        i += 1
    return name


def claim(base: str, taken: MutableSet[str]) -> str:
    """A fresh name, added to ``taken``."""
    name = fresh(base, taken)
    taken.add(name)
    return name
