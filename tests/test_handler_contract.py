"""Every registered handler, importer or exporter, takes ``(ctx, node)``."""
import inspect

import pytest

from convert import support
from convert.errors import UsageError
from convert.registry import Registry


def _registries() -> list[Registry]:
    found = {}
    for pkg in [*support.IMPORTER_PACKAGES.values(), *support.EXPORTER_PACKAGES.values()]:
        for reg in support._registries(pkg):
            found[id(reg)] = reg
    return list(found.values())


def test_every_handler_takes_ctx_then_node():
    regs = _registries()
    kinds = {r.kind for r in regs}
    # the walk must see every registry, or the check below proves nothing about the missing ones
    assert {"torch importer", "torch fx lowering", "keras importer", "caffe importer", "onnx importer",
            "onnx exporter", "torch exporter", "keras exporter", "caffe exporter", "tflite exporter",
            "tflite importer"} <= kinds
    wrong = [f"{r.kind} {key}: {fn.__module__}.{fn.__qualname__}{tuple(inspect.signature(fn).parameters)}"
             for r in regs for key, _, fn in r.handlers()
             if tuple(inspect.signature(fn).parameters) != ("ctx", "node")]
    assert sum(len(r.handlers()) for r in regs) > 500
    assert not wrong, "handlers not (ctx, node):\n" + "\n".join(wrong)


def test_the_check_sees_an_old_style_handler():
    reg = Registry("probe importer")
    register = reg.register("A", emits=("Relu",))
    register(lambda node, ctx: None)
    (_, _, fn), = reg.handlers()
    assert tuple(inspect.signature(fn).parameters) == ("node", "ctx")


def test_a_plugin_in_the_old_order_is_refused():
    from convert.plugins import register_exporter

    register = register_exporter("onnx", "Relu", since=999)
    with pytest.raises(UsageError, match=r"handlers take \(ctx, node\)"):
        register(lambda node, ctx: None)
