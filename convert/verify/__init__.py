"""Verification: run two sides on the same inputs, compare every output (and, with
``per_layer``, every intermediate value both sides expose), and report.

``convert.verify`` is both this package and the API function: importing the package
(as ``convert.api`` does on first use) replaces the lazy ``convert.verify`` attribute,
so the package itself is made callable and forwards to :func:`convert.api.verify`.
"""
from __future__ import annotations

import sys
import types


class _CallableModule(types.ModuleType):
    def __call__(self, source: str, target: str, **options):
        """``convert.verify(source, target, ...)``: see :func:`convert.api.verify`."""
        from ..api import verify

        return verify(source, target, **options)


sys.modules[__name__].__class__ = _CallableModule
