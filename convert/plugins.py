"""User plugins: files (``--plugin module.py``) and installed packages exposing the entry
point group ``nnconvert.plugins``. A plugin registers handlers in the same registries
nnconvert's own layers use, e.g. ``convert.importers.torch.TORCH_IMPORTERS``."""
from __future__ import annotations

import importlib.util
import logging
from importlib.metadata import entry_points
from pathlib import Path

from .errors import UsageError

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "nnconvert.plugins"
_loaded: set[str] = set()


def load_plugins(files: tuple[str, ...] | list[str] = ()) -> None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _loaded:
            _loaded.add(ep.name)
            ep.load()
    for f in files:
        path = Path(f).resolve()
        if str(path) in _loaded:
            continue
        if not path.is_file():
            raise UsageError(f"--plugin {f}: no such file")
        spec = importlib.util.spec_from_file_location(f"nnconvert_plugin_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        _loaded.add(str(path))
        log.info("loaded plugin %s", path)
