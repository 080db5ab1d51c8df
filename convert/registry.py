"""One registry class for every importer and exporter.

Handlers are registered per key (a source layer type or an IR op) and optionally
per version (``since``): lookup returns the handler with the highest ``since`` not
above the requested version, the way torch.onnx and tf2onnx choose per opset.
"""
from __future__ import annotations

from typing import Callable, Generic, Iterable, TypeVar

H = TypeVar("H", bound=Callable)


class Registry(Generic[H]):
    def __init__(self, kind: str):
        self.kind = kind
        self._handlers: dict[str, dict[int, H]] = {}

    def register(self, *keys: str, since: int = 0) -> Callable[[H], H]:
        def deco(fn: H) -> H:
            for key in keys:
                versions = self._handlers.setdefault(key, {})
                if since in versions:
                    raise RuntimeError(f"{self.kind}: {key!r} since {since} registered twice")
                versions[since] = fn
            return fn

        return deco

    def lookup(self, key: str, version: int | None = None) -> H | None:
        versions = self._handlers.get(key)
        if not versions:
            return None
        usable = [v for v in versions if version is None or v <= version]
        return versions[max(usable)] if usable else None

    def __contains__(self, key: str) -> bool:
        return key in self._handlers

    def keys(self) -> list[str]:
        return sorted(self._handlers)

    def missing(self, keys: Iterable[str], version: int | None = None) -> list[str]:
        return sorted({k for k in keys if self.lookup(k, version) is None})
