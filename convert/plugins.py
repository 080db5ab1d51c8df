"""User plugins: a small, stable API to add layers without forking nnconvert.

A plugin is a Python file (``nnconvert --plugin my_layers.py ...``) or an installed
package exposing the entry point group ``nnconvert.plugins`` (the entry point is
imported; registering happens at import time). It uses three functions:

``register_importer(framework, *keys, emits=("Relu", ...))``
    decorator for ``handler(ctx, node)`` mapping one source layer type to IR ops (every
    handler, importer or exporter, takes ``(ctx, node)``; ``node`` is the source layer).
    Keys: ``"torch"``: the ATen / custom-op overload as torch.export shows it
    (``"aten.gelu.default"``, ``"mylib.scaled_tanh.default"`` for a
    ``torch.library.custom_op("mylib::scaled_tanh")``); handler ``(ctx, node) -> str``
    (node is the FX node; ``ctx.v(arg)`` gives the IR value of an argument,
    ``ctx.op(op, *inputs, **attrs)`` emits). ``"keras"``: the layer's class name or its
    registered name (``"my_pkg>ScaledTanh"``); handler ``(ctx, node) -> list[Ref]``
    where node is the layer call (``x, perm = ctx.any(node.inputs[0])``, ``ctx.op(...)``,
    ``node.get(key)`` reads the config, ``node.take(*shapes)`` the weights,
    ``ctx.ref(value, shape, perm)`` wraps the result). ``"caffe"``: the layer type string;
    handler ``(ctx, node)`` where node is the LayerParameter.
    A Keras custom class or Lambda layer is converted only when a plugin registers it.

``register_op(name, inputs="X", outputs="Y", attrs=None, doc="", domain=...)``
    declares a custom IR op (use a dotted name, e.g. ``"example.ScaledTanh"``) when no
    built-in IR op expresses the layer; export it with ``register_exporter``.

``register_exporter(target, op)``
    decorator for ``handler(ctx, node)`` writing one IR op to ``"onnx"``, ``"torch"``,
    ``"keras"`` or ``"caffe"``. For ONNX, ``ctx.emit(op_type, inputs, outputs,
    name=node.name, domain="com.example", **attrs)`` emits a node (a custom domain is
    declared in the model's opset imports automatically) and ``ctx.add_function(f)``
    adds an ONNX FunctionProto defining a custom-domain op, so onnxruntime can run it.

Plugin handlers go into the same registries nnconvert's own layers use, so the
pre-flight check, ``convert`` and ``verify`` treat them exactly like built-in ones.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
from importlib.metadata import entry_points
from pathlib import Path
from typing import Callable, Iterable

from .errors import UsageError

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "nnconvert.plugins"
_loaded: set[str] = set()

# Which registry serves each framework / target (module, attribute): imported on use only.
IMPORTER_REGISTRIES = {
    "torch": ("convert.importers.torch.registry", "REG"),
    "keras": ("convert.importers.keras.registry", "KERAS_LAYERS"),
    "caffe": ("convert.importers.caffe.registry", "CAFFE_LAYERS"),
}
EXPORTER_REGISTRIES = {
    "onnx": ("convert.exporters.onnx.registry", "ONNX_HANDLERS"),
    "torch": ("convert.exporters.torch.registry", "TORCH_HANDLERS"),
    "keras": ("convert.exporters.keras.registry", "KERAS_HANDLERS"),
    "caffe": ("convert.exporters.caffe.registry", "CAFFE_HANDLERS"),
}
# (framework, key) pairs a plugin registered: a Keras custom class or Lambda layer is
# only converted when its key is in here (built-in handlers never take custom classes).
PLUGIN_KEYS: set[tuple[str, str]] = set()


def _registry(table: dict, name: str, what: str):
    if name not in table:
        raise UsageError(f"unknown {what} {name!r}; choose one of {', '.join(table)}")
    module, attr = table[name]
    return getattr(importlib.import_module(module), attr)


def register_importer(framework: str, *keys: str, since: int = 0, emits: Iterable[str] = ()) -> Callable:
    """Decorator: ``handler`` converts source layers of type ``keys`` (see module doc) into
    the IR ops ``emits`` (what the support listing shows for them)."""
    if not keys:
        raise UsageError("register_importer needs at least one layer key")
    reg = _registry(IMPORTER_REGISTRIES, framework, "framework")

    def deco(fn: Callable) -> Callable:
        _check_contract(fn, "register_importer")
        reg.register(*keys, since=since, emits=tuple(emits))(fn)
        PLUGIN_KEYS.update((framework, k) for k in keys)
        return fn

    return deco


def register_exporter(target: str, *ops: str, since: int = 0) -> Callable:
    """Decorator: ``handler(ctx, node)`` writes IR ``ops`` to ``target`` (since = opset for ONNX)."""
    if not ops:
        raise UsageError("register_exporter needs at least one IR op")
    reg = _registry(EXPORTER_REGISTRIES, target, "target")
    from .ir.optable import OPS

    unknown = [o for o in ops if o not in OPS]
    if unknown:
        raise UsageError(f"register_exporter: unknown IR op(s) {unknown}; declare them with register_op first")

    def deco(fn: Callable) -> Callable:
        _check_contract(fn, "register_exporter")
        return reg.register(*ops, since=since)(fn)

    return deco


def _check_contract(fn: Callable, where: str) -> None:
    """A handler written for the old ``(node, ctx)`` order would get its arguments swapped:
    refuse it by name instead of failing inside a conversion."""
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return
    if len(params) >= 2 and params[1] == "ctx" and params[0] != "ctx":
        raise UsageError(f"{where}: {getattr(fn, '__qualname__', fn)}{tuple(params)} -- handlers take (ctx, node)")


def register_op(name: str, inputs: str = "X", outputs: str = "Y", attrs: dict | None = None, doc: str = "",
                family: str = "custom"):
    """Declare a custom IR op. ``inputs``/``outputs`` are port names separated by
    spaces (``"X W B?"``: a trailing ``?`` marks an optional port); ``attrs`` maps
    names to ``convert.ir.optable.Attr(kind, default)``. Returns the OpSpec."""
    from .ir.optable import OPS, declare

    if name in OPS:
        raise UsageError(f"IR op {name!r} already exists")
    return declare(name, family, inputs, outputs, attrs or {}, doc or f"{name} (plugin op)", onnx=False)


def is_plugin_key(framework: str, key: str | None) -> bool:
    return key is not None and (framework, key) in PLUGIN_KEYS


def load_plugins(files: tuple[str, ...] | list[str] = ()) -> None:
    """Import the installed ``nnconvert.plugins`` entry points, then each plugin file."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _loaded:
            _loaded.add(ep.name)
            try:
                ep.load()
            except Exception as e:  # noqa: BLE001  (a broken plugin is named, not a traceback)
                raise UsageError(f"plugin entry point {ep.name!r} ({ep.value}) failed to load: "
                                 f"{type(e).__name__}: {e}") from e
    for f in files:
        path = Path(f).resolve()
        if str(path) in _loaded:
            continue
        if not path.is_file():
            raise UsageError(f"--plugin {f}: no such file")
        spec = importlib.util.spec_from_file_location(f"nnconvert_plugin_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        try:
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        except UsageError:
            raise
        except Exception as e:  # noqa: BLE001
            raise UsageError(f"--plugin {f} failed to load: {type(e).__name__}: {e}") from e
        _loaded.add(str(path))
        log.info("loaded plugin %s", path)


__all__ = ["register_importer", "register_exporter", "register_op", "load_plugins", "ENTRY_POINT_GROUP"]
