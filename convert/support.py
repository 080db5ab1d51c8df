"""The support matrix, generated from the registries (never by hand).

Importers are keyed by source layer type; which IR ops a handler produces is read from
its code (the op names it passes to the builder), following helpers in its own module.
Exporters are keyed by IR op.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import textwrap
from functools import lru_cache

from .formats import FORMATS
from .ir.optable import OPS
from .registry import Registry

IMPORTER_PACKAGES = {"torch": "convert.importers.torch", "keras": "convert.importers.keras",
                     "caffe": "convert.importers.caffe", "onnx": "convert.importers.onnx",
                     "mxnet": "convert.importers.mxnet", "chainer": "convert.importers.chainer"}
EXPORTER_PACKAGES = {"onnx": "convert.exporters.onnx", "torch": "convert.exporters.torch",
                     "keras": "convert.exporters.keras", "caffe": "convert.exporters.caffe",
                     "tflite": "convert.exporters.tflite"}


def _registries(package: str) -> list[Registry]:
    try:
        pkg = importlib.import_module(package)
    except ImportError:
        return []
    found: dict[int, Registry] = {}
    mods = [pkg]
    for info in pkgutil.walk_packages(getattr(pkg, "__path__", []), package + "."):
        try:
            mods.append(importlib.import_module(info.name))
        except ImportError:
            continue
    for m in mods:
        for v in vars(m).values():
            if isinstance(v, Registry):
                found[id(v)] = v
    return list(found.values())


def _ops_in(fn, seen: set) -> set[str]:
    """IR op names a handler emits: string literals naming an op, in its own code and
    in the same-module functions it calls."""
    if fn in seen or not callable(fn):
        return set()
    seen.add(fn)
    declared = set(getattr(fn, "ir_ops", ()))  # ops a handler emits under its key's name (ONNX importer)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return declared
    out: set[str] = set(declared)
    module = inspect.getmodule(fn)
    # Walk the body only: decorator arguments are registry keys (source layer types), not emitted ops.
    body = [n for top in tree.body for n in (top.body if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)) else [top])]
    for node in (sub for b in body for sub in ast.walk(b)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in OPS:
            out.add(node.value)
        elif isinstance(node, ast.Name) and module is not None:
            target = getattr(module, node.id, None)
            if inspect.isfunction(target) and target.__module__ == module.__name__:
                out |= _ops_in(target, seen)
    return out


@lru_cache(maxsize=None)
def importer_ops() -> dict[str, set[str]]:
    """framework -> IR ops its importer can produce."""
    out = {}
    for fw, pkg in IMPORTER_PACKAGES.items():
        ops: set[str] = set()
        for reg in _registries(pkg):
            for key in reg.keys():
                for since in reg._handlers[key].values():
                    ops |= _ops_in(since, set())
        out[fw] = ops
    return out


@lru_cache(maxsize=None)
def exporter_ops() -> dict[str, set[str]]:
    """target -> IR ops its exporter accepts."""
    out = {"onnx": {n for n, s in OPS.items() if s.onnx} | set()}
    from .exporters.onnx import ONNX_HANDLERS

    out["onnx"] |= set(ONNX_HANDLERS.keys()) & set(OPS)
    for fw, pkg in EXPORTER_PACKAGES.items():
        if fw == "onnx":
            continue
        regs = _registries(pkg)
        if regs:
            out[fw] = {k for r in regs for k in r.keys() if k in OPS}
    return out


def formats_table() -> str:
    rows = [("format", "read", "write", "extensions", "description")]
    for f in FORMATS.values():
        rows.append((f.name, "yes" if f.reader and _has(f.reader) else "-", "yes" if f.writer and _has(f.writer) else "-",
                     " ".join(f.extensions) or "(--to)", f.description))
    return _text_table(rows)


def _has(target: str) -> bool:
    mod, attr = target.split(":")
    try:
        return hasattr(importlib.import_module(mod), attr)
    except ImportError:
        return False


def ops_table(markdown: bool = False) -> str:
    imp, exp = importer_ops(), exporter_ops()
    srcs, tgts = list(imp), list(exp)
    header = ("IR op", "family", *[f"from {s}" for s in srcs], *[f"to {t}" for t in tgts])
    rows = [header]
    for name in sorted(OPS, key=lambda n: (OPS[n].family, n)):
        rows.append((name, OPS[name].family, *["yes" if name in imp[s] else "-" for s in srcs],
                     *["yes" if name in exp[t] else "-" for t in tgts]))
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        return "\n".join(lines)
    return _text_table(rows)


def _text_table(rows) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


README_START = "<!-- support-matrix:start (generated by: python -m convert.support) -->"
README_END = "<!-- support-matrix:end -->"


def readme_block() -> str:
    return "\n".join([README_START, "", formats_markdown(), "", ops_table(markdown=True), "", README_END])


def formats_markdown() -> str:
    lines = ["| format | read | write | extensions | description |", "|---|---|---|---|---|"]
    for f in FORMATS.values():
        lines.append(f"| {f.name} | {'yes' if f.reader and _has(f.reader) else '-'} | "
                     f"{'yes' if f.writer and _has(f.writer) else '-'} | {' '.join(f.extensions) or '(--to)'} | "
                     f"{f.description} |")
    return "\n".join(lines)


def update_readme(path: str = "README.md") -> bool:
    """Rewrite the generated block in the README; returns whether it changed."""
    from pathlib import Path

    p = Path(path)
    text = p.read_text()
    start, end = text.index(README_START), text.index(README_END) + len(README_END)
    new = text[:start] + readme_block() + text[end:]
    if new != text:
        p.write_text(new)
    return new != text


if __name__ == "__main__":
    print("README.md updated" if update_readme() else "README.md already current")
