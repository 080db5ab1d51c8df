"""Checking the support matrix by running: record which IR ops each importer handler
really emits, and which IR ops each exporter handler really accepts, while probes convert.

``recording()`` wraps every handler that a registry hands out: the innermost importer
handler running when an IR node is created is charged with that node's op; an exporter
handler that returns is charged with accepting its op. The checks then compare what was
recorded with each registry's declarations (``Registry.emits``).
"""
from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field

from convert.ir.builder import GraphBuilder
from convert.ir.graph import Node
from convert.ir.optable import OPS
from convert.registry import Registry


@dataclass
class Record:
    emitted: dict = field(default_factory=lambda: defaultdict(set))  # (registry kind, key) -> IR ops
    accepted: dict = field(default_factory=lambda: defaultdict(set))  # exporter kind -> IR ops
    refused: dict = field(default_factory=lambda: defaultdict(dict))  # exporter kind -> {IR op: why a handler raised}


@contextmanager
def recording():
    rec, stack = Record(), []
    lookup, init = Registry.lookup, Node.__init__

    def wrapped_lookup(self, key, version=None):
        fn = lookup(self, key, version)
        if fn is None or not self.produces_ir:
            return fn

        def run(*args, **kwargs):
            if not self.ir_keys:
                rec.emitted[(self.kind, key)] |= set()  # reached, even when it folds to nothing
            stack.append((self, key))
            try:
                out = fn(*args, **kwargs)
            except Exception as e:
                if self.ir_keys:
                    rec.refused[self.kind].setdefault(key, f"{type(e).__name__}: {str(e)[:160]}")
                raise
            finally:
                stack.pop()
            if self.ir_keys:
                rec.accepted[self.kind].add(key)
            return out

        return run

    def recording_init(node, *args, **kwargs):
        init(node, *args, **kwargs)
        if stack and not stack[-1][0].ir_keys:
            reg, key = stack[-1]
            rec.emitted[(reg.kind, key)].add(node.op)

    Registry.lookup, Node.__init__ = wrapped_lookup, recording_init
    try:
        yield rec
    finally:
        Registry.lookup, Node.__init__ = lookup, init


def importer_problems(reg: Registry, rec: Record) -> list[str]:
    """Claims a run contradicts, for every key of ``reg`` that a probe reached: an op emitted
    but not declared (a working path the matrix does not show), or a handler that emitted
    ops, none of them declared (a claim the probes contradict). A handler that folds its
    layer away (an alias, a constant) emits nothing, which contradicts no claim."""
    out = []
    for (kind, key), ops in sorted(rec.emitted.items()):
        if kind != reg.kind:
            continue
        declared = reg.emits(key)
        if declared is None:
            out.append(f"{kind} {key}: emits {sorted(ops)} without a declaration")
            continue
        if ops - declared:
            out.append(f"{kind} {key}: emits {sorted(ops - declared)}, not declared (declared {sorted(declared)})")
        if declared and ops and not ops & declared:
            out.append(f"{kind} {key}: declares {sorted(declared)}, the probe emitted {sorted(ops)}")
    return out


def reached(reg: Registry, rec: Record) -> set[str]:
    return {key for kind, key in rec.emitted if kind == reg.kind}


def unprobed_claims(claimed: set[str], rec: Record, kinds: set[str]) -> set[str]:
    """Ops in a framework's matrix column that no probe of it produced."""
    seen = {op for (kind, _), ops in rec.emitted.items() if kind in kinds for op in ops}
    return claimed - seen


# -- IR probes from the op table: one node per op whose inputs the table alone defines ----------
LOGICAL = {"Not", "And", "Or", "Xor"}
INT_ONLY = {"Mod", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot"}  # integer-only ops (Mod: fmod=0)


def _dtype(op: str) -> str:
    return "bool" if op in LOGICAL else "int64" if op in INT_ONLY else "float32"


def table_probe(op: str):
    """An IR graph holding one ``op`` node on (2, 3, 4, 4) inputs, or None when the op needs
    attributes or inputs that the op table does not give (those come from importer probes)."""
    spec = OPS[op]
    if spec.family not in ("activation", "elementwise") or any(a.required for a in spec.attrs.values()):
        return None
    required = [p for p in spec.inputs if not p.optional]
    if op == "Where" or len(required) > 2 or op == "PRelu":
        return None
    b = GraphBuilder(f"probe_{op}")
    dtype = _dtype(op)
    ins = [b.input(p.name, dtype, (2, 3, 4, 4)) for p in required]
    if any(p.variadic for p in required):
        ins.append(b.input("second", dtype, (2, 3, 4, 4)))
    y = b.op(op, *ins)
    b.output(y, "bool" if op in LOGICAL | {"Greater", "Less", "Equal", "IsNaN", "IsInf"} else dtype, (2, 3, 4, 4))
    return b.finish(op)


def table_probes() -> dict[str, object]:
    return {op: g for op in OPS if (g := table_probe(op)) is not None}


def record_from_sources(graph, kind: str, rec: Record | None = None) -> Record:
    """A Record built from the IR nodes' sources (``source.layer_type`` is the handler key):
    for importers whose handlers run in another process (Chainer walks in its own python)."""
    rec = rec or Record()
    for n in graph.nodes:
        if n.source is not None:
            rec.emitted[(kind, n.source.layer_type)].add(n.op)
    return rec
