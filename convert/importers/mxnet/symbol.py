"""MXNet symbol JSON (``name-symbol.json``): nodes, their attributes (strings) and heads."""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import ModelLoadError
from ...limits import MAX_JSON_BYTES, load_json


@dataclass
class SymNode:
    index: int
    op: str  # "null" for a variable (input or parameter)
    name: str
    attrs: dict[str, str]
    inputs: list[tuple[int, int]] = field(default_factory=list)  # (node index, output index)


@dataclass
class Symbol:
    nodes: list[SymNode]
    heads: list[tuple[int, int]]


def _entry(e, n_nodes: int, where: str, what: str) -> tuple[int, int]:
    if not (isinstance(e, list) and len(e) in (2, 3) and all(isinstance(v, int) for v in e)):
        raise ModelLoadError(where, f"{what}: {e!r} is not [node, output(, version)]")
    if not 0 <= e[0] < n_nodes or e[1] < 0:
        raise ModelLoadError(where, f"{what}: refers to node {e[0]} of {n_nodes}")
    return e[0], e[1]


def read_symbol(path: str) -> Symbol:
    p = Path(path)
    try:
        if p.stat().st_size > MAX_JSON_BYTES:
            raise ModelLoadError(path, f"symbol file is over the limit of {MAX_JSON_BYTES} bytes")
        text = p.read_bytes()
    except OSError as e:
        raise ModelLoadError(path, f"cannot read ({e.strerror or e})") from None
    doc = load_json(path, text, "symbol JSON")
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list) or not isinstance(doc.get("heads"), list):
        raise ModelLoadError(path, "not an MXNet symbol file (no 'nodes' and 'heads')")
    raw = doc["nodes"]
    nodes = []
    for i, n in enumerate(raw):
        if not isinstance(n, dict) or not isinstance(n.get("op"), str) or not isinstance(n.get("name"), str):
            raise ModelLoadError(path, f"node {i} is not an object with 'op' and 'name'")
        # attribute spellings of successive MXNet versions: attrs (1.x), attr, param (0.x)
        attrs = n.get("attrs", n.get("attr", n.get("param", {}))) or {}
        if not isinstance(attrs, dict):
            raise ModelLoadError(path, f"node {n['name']!r}: attributes are not an object")
        ins = n.get("inputs", [])
        if not isinstance(ins, list):
            raise ModelLoadError(path, f"node {n['name']!r}: inputs are not a list")
        entries = [_entry(e, len(raw), path, f"node {n['name']!r} input") for e in ins]
        if any(src >= i for src, _ in entries):
            raise ModelLoadError(path, f"node {n['name']!r} uses a later node (not in topological order)")
        nodes.append(SymNode(i, n["op"], n["name"], {str(k): str(v) for k, v in attrs.items()}, entries))
    heads = [_entry(e, len(raw), path, "head") for e in doc["heads"]]
    if not heads:
        raise ModelLoadError(path, "symbol has no outputs (heads)")
    return Symbol(nodes, heads)


def parse_value(text: str):
    """An MXNet attribute string as a Python value: '(3, 3)' -> (3, 3), 'True' -> True,
    '1e-05' -> 1e-05, 'None' -> None, anything else stays a string. literal_eval
    evaluates literals only, never code."""
    t = text.strip()
    if t in ("true", "false"):
        return t == "true"
    if len(t) > 10_000:
        return t
    try:
        return ast.literal_eval(t)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return t
