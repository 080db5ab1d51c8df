"""One registry class for every importer and exporter.

Handlers are registered per key (a source layer type or an IR op) and optionally
per version (``since``): lookup returns the handler with the highest ``since`` not
above the requested version, the way torch.onnx and tf2onnx choose per opset.

Importer handlers declare the IR ops they emit (``emits=``): one tuple for every key of
the registration, or a mapping key -> op name(s) for table-driven registrations. The
support matrix is built from these declarations (and a test checks them by running).
Every handler is called ``handler(ctx, node)``: its context first, then the source layer
(importers) or the IR node (exporters) it converts.
An exporter registry (``ir_keys=True``) is keyed by IR op, so each key declares itself.
A lowering registry (``produces_ir=False``) feeds another registry and declares nothing.
"""
from __future__ import annotations

from typing import Callable, Generic, Iterable, Mapping, TypeVar, Union

H = TypeVar("H", bound=Callable)
Emits = Union[Iterable[str], Mapping[str, Union[str, Iterable[str]]], None]


def _as_ops(value: str | Iterable[str]) -> frozenset[str]:
    return frozenset((value,) if isinstance(value, str) else value)


class Registry(Generic[H]):
    def __init__(self, kind: str, ir_keys: bool = False, produces_ir: bool = True):
        self.kind = kind
        self.ir_keys = ir_keys
        self.produces_ir = produces_ir
        self._handlers: dict[str, dict[int, H]] = {}
        self._emits: dict[tuple[str, int], frozenset[str]] = {}

    def register(self, *keys: str, since: int = 0, emits: Emits = None) -> Callable[[H], H]:
        if isinstance(emits, str):
            raise TypeError(f"{self.kind}: emits must be a tuple of IR op names, not the string {emits!r}")

        def deco(fn: H) -> H:
            for key in keys:
                versions = self._handlers.setdefault(key, {})
                if since in versions:
                    raise RuntimeError(f"{self.kind}: {key!r} since {since} registered twice")
                versions[since] = fn
                if isinstance(emits, Mapping):
                    if key in emits:
                        self._emits[(key, since)] = _as_ops(emits[key])
                elif emits is not None:
                    self._emits[(key, since)] = _as_ops(emits)
            return fn

        return deco

    def lookup(self, key: str, version: int | None = None) -> H | None:
        versions = self._handlers.get(key)
        if not versions:
            return None
        usable = [v for v in versions if version is None or v <= version]
        return versions[max(usable)] if usable else None

    def handlers(self) -> list[tuple[str, int, H]]:
        """(key, since, handler) for every registration."""
        return [(k, since, fn) for k, versions in sorted(self._handlers.items()) for since, fn in sorted(versions.items())]

    def __contains__(self, key: str) -> bool:
        return key in self._handlers

    def keys(self) -> list[str]:
        return sorted(self._handlers)

    def missing(self, keys: Iterable[str], version: int | None = None) -> list[str]:
        return sorted({k for k in keys if self.lookup(k, version) is None})

    def emits(self, key: str) -> frozenset[str] | None:
        """IR ops the handlers of ``key`` (all versions) declare; None when one declares nothing."""
        if self.ir_keys:
            return frozenset((key,))
        out: set[str] = set()
        for since in self._handlers.get(key, {}):
            declared = self._emits.get((key, since))
            if declared is None:
                return None
            out |= declared
        return frozenset(out)

    def undeclared(self) -> list[str]:
        """'key (since N): module.handler' for every importer handler without an ``emits`` declaration."""
        if self.ir_keys or not self.produces_ir:
            return []
        return [f"{key} (since {since}): {getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"
                for key, versions in sorted(self._handlers.items()) for since, fn in sorted(versions.items())
                if (key, since) not in self._emits]
