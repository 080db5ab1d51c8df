"""A validated ``.pt2`` archive as the small part of ``torch.export.ExportedProgram``
the ATen handlers read: ``graph.nodes`` (op, target, args, kwargs, name, meta["val"],
meta["nn_module_stack"]), ``graph_signature.input_specs``, ``state_dict`` and
``constants`` (numpy arrays). Nodes are rebuilt the way torch's deserializer builds
them (same names, getitem nodes for multiple outputs, defaults left to the schema), so
the IR equals the one made from ``torch.export.load``.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

from ...errors import ModelLoadError
from . import pt2_expr
from .aten_schemas import Schema, schema_of
from .pt2_archive import SCALAR_TYPES, Pt2Archive

_NONFINITE = {"Infinity": float("inf"), "-Infinity": float("-inf"), "NaN": float("nan")}


def _float(v: Any) -> Any:
    """torch's serializer writes a non-finite float (``masked_fill(mask, -inf)``) as text."""
    return _NONFINITE.get(v, v) if isinstance(v, str) else v


class InputKind(enum.Enum):
    USER_INPUT = enum.auto()
    PARAMETER = enum.auto()
    BUFFER = enum.auto()
    CONSTANT_TENSOR = enum.auto()
    CUSTOM_OBJ = enum.auto()
    TOKEN = enum.auto()


_SPEC_KINDS = {"user_input": InputKind.USER_INPUT, "parameter": InputKind.PARAMETER, "buffer": InputKind.BUFFER,
               "tensor_constant": InputKind.CONSTANT_TENSOR, "custom_obj": InputKind.CUSTOM_OBJ,
               "token": InputKind.TOKEN}
_SPEC_TARGET = {"parameter": "parameter_name", "buffer": "buffer_name", "tensor_constant": "tensor_constant_name",
                "custom_obj": "custom_obj_name"}


@dataclass(frozen=True)
class Token:
    """A torch enum value (dtype, layout, memory format, device) by its torch spelling."""

    text: str

    def __str__(self) -> str:
        return self.text


class Target:
    """An operator: ``str()`` is torch's spelling (``aten.conv2d.default``)."""

    def __init__(self, key: str, schema: Schema | None):
        self.key = key
        self._schema = schema

    def __str__(self) -> str:
        return self.key

    __repr__ = __str__


GETITEM = Target("<built-in function getitem>", None)


class _SymNode:
    def __init__(self, expr: str):
        self.expr = expr


class SymDim:
    """A symbolic dimension; ``str(d.node.expr)`` is its expression, as for a SymInt."""

    def __init__(self, expr: str):
        self.node = _SymNode(expr)

    def __repr__(self) -> str:
        return self.node.expr


@dataclass
class TensorMeta:
    shape: tuple
    dtype: Token


@dataclass(eq=False)
class Node:
    """The FX node interface the handlers use (the class name is what they test)."""

    op: str
    name: str
    target: Any = None
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return self.name


@dataclass
class InputSpec:
    kind: InputKind
    arg: Any
    target: str | None


@dataclass
class Signature:
    input_specs: list[InputSpec]


@dataclass
class Graph:
    nodes: list[Node]


@dataclass
class Program:
    graph: Graph
    graph_signature: Signature
    state_dict: dict
    constants: dict
    torch_version: str
    range_constraints: dict = field(default_factory=dict)  # symbol -> SizeRange (lower, upper)


@dataclass(frozen=True)
class SizeRange:
    """The sizes torch.export recorded for a symbol (``upper`` None: unbounded)."""

    lower: int
    upper: float


@dataclass
class _Name:
    name: str


def build_program(archive: Pt2Archive) -> Program:
    return _Builder(archive).build()


class _Builder:
    def __init__(self, archive: Pt2Archive):
        self.a = archive
        gm = archive.model["graph_module"]
        self.graph = gm.get("graph") or {}
        self.signature = gm.get("signature") or {}
        self.values: dict[str, Any] = {}  # serialized tensor / sym name -> Node
        self.nodes: list[Node] = []
        self.used: set[str] = set()

    def fail(self, problem: str):
        raise ModelLoadError(self.a.path, problem)

    def build(self) -> Program:
        for arg in self.graph.get("inputs") or []:
            self._placeholder(arg)
        for i, sn in enumerate(self.graph.get("nodes") or []):
            if not isinstance(sn, dict) or not isinstance(sn.get("target"), str):
                self.fail(f"graph node {i} has no target")
            self._node(sn)
        outs = tuple(self._arg(o, "output") for o in self.graph.get("outputs") or [])
        self._add(Node("output", "output", "output", (outs,)))
        specs = [self._spec(s) for s in self.signature.get("input_specs") or []]
        return Program(Graph(self.nodes), Signature(specs), self.a.state_dict, self.a.constants, self.a.torch_version,
                       _ranges(self.a.model.get("range_constraints") or {}))

    # -- nodes -----------------------------------------------------------------
    def _add(self, node: Node) -> Node:
        node.name = _name(node.name)
        base, n = node.name, 0
        while node.name in self.used:  # FX keeps names unique the same way
            n += 1
            node.name = f"{base}_{n}"
        self.used.add(node.name)
        self.nodes.append(node)
        return node

    def _placeholder(self, arg: dict) -> None:
        kind, value = _union(arg)
        if kind == "as_tensor":
            name = value["name"]
            node = self._add(Node("placeholder", name, name, meta={"val": self._tensor_meta(name)}))
            self.values[name] = node
        elif kind in ("as_sym_int", "as_sym_float", "as_sym_bool"):
            name = value.get("as_name")
            self.values[name] = self._add(Node("placeholder", name, name, meta={"val": self._sym(name)}))
        else:  # a constant input specialised into the graph
            name = f"arg{len(self.nodes)}"
            self._add(Node("placeholder", name, name, meta={"val": self._arg(arg, "input")}))

    def _node(self, sn: dict) -> None:
        if not _TARGET.fullmatch(sn["target"]):
            self.fail(f"graph node {_name(sn.get('name'))!r} has an invalid target {sn['target'][:60]!r}")
        key = _target_key(sn["target"])
        target = Target(key, schema_of(key))
        args, kwargs = self._inputs(target, sn)
        meta = _metadata(sn.get("metadata") or {})
        outputs = sn.get("outputs") or []
        name = sn.get("name") if isinstance(sn.get("name"), str) and sn.get("name") else None
        node = Node("call_function", "", target, args, kwargs, dict(meta))
        if len(outputs) == 1 and "as_tensor" in outputs[0]:
            tname = outputs[0]["as_tensor"]["name"]
            node.name = name or tname
            node.meta["val"] = self._tensor_meta(tname)
            self.values[tname] = self._add(node)
        elif len(outputs) == 1 and _union(outputs[0])[0] in ("as_sym_int", "as_sym_float", "as_sym_bool"):
            sname = _union(outputs[0])[1].get("as_name")
            node.name = name or sname
            node.meta["val"] = self._sym(sname)
            self.values[sname] = self._add(node)
        elif not outputs or (len(outputs) == 1 and "as_none" in outputs[0]):
            node.name = f"{key.split('.')[1] if '.' in key else key}_unused"
            node.meta["val"] = None
            self._add(node)
        else:
            node.name = name or (key.split(".")[1] if key.count(".") >= 2 else "node")
            self._add(node)
            items = outputs[0]["as_tensors"] if len(outputs) == 1 and "as_tensors" in outputs[0] else outputs
            node.meta["val"] = tuple(self._getitems(node, items, meta))

    def _getitems(self, parent: Node, items: list, meta: dict) -> list:
        vals = []
        for idx, item in enumerate(items):
            kind, value = ("as_tensor", item) if "name" in item else _union(item)
            if kind == "as_tensor":
                g = self._add(Node("call_function", value["name"], GETITEM, (parent, idx), {}, dict(meta)))
                g.meta["val"] = self._tensor_meta(value["name"])
                self.values[value["name"]] = g
            elif kind in ("as_sym_int", "as_sym_float"):
                g = self._add(Node("call_function", value["as_name"], GETITEM, (parent, idx), {}, dict(meta)))
                g.meta["val"] = self._sym(value["as_name"])
                self.values[value["as_name"]] = g
            elif kind == "as_tensors":
                g = self._add(Node("call_function", "getitem", GETITEM, (parent, idx), {}, dict(meta)))
                g.meta["val"] = self._getitems(g, value, meta)
            elif kind == "as_none":
                g = self._add(Node("call_function", "as_none", GETITEM, (parent, idx), {}, dict(meta)))
                g.meta["val"] = None
            else:
                self.fail(f"node {parent.name}: output kind {kind} is not supported")
            vals.append(g.meta["val"])
        return vals

    def _inputs(self, target: Target, sn: dict) -> tuple[tuple, dict]:
        """Positional and keyword arguments as torch's deserializer splits them."""
        given = {}
        for na in sn.get("inputs") or []:
            if not isinstance(na, dict) or not isinstance(na.get("name"), str):
                self.fail(f"node {sn.get('name')!r}: malformed argument")
            given[na["name"]] = (self._arg(na.get("arg"), sn.get("name")), na.get("kind"))
        schema = target._schema
        if schema is not None and set(given) - {a.name for a in schema.arguments}:
            extra = sorted(set(given) - {a.name for a in schema.arguments})
            self.fail(f"node {sn.get('name')!r}: {target} has no argument(s) {extra[:3]} in the schema the "
                      "reader knows (written by another torch version?)")
        if schema is None:  # an overload outside the table: keep the recorded order
            args = tuple(v for v, k in given.values() if k != 2)
            return args, {n: v for n, (v, k) in given.items() if k == 2}
        args, kwargs = [], {}
        for a in schema.arguments:
            if a.name in given:
                value, kind = given[a.name]
                if kind == 1 or (kind is None and not a.has_default_value() and not a.kwarg_only):
                    args.append(value)
                else:
                    kwargs[a.name] = value
        return tuple(args), kwargs

    # -- values ----------------------------------------------------------------
    def _arg(self, arg: Any, where: Any) -> Any:
        kind, v = _union(arg)
        if kind == "as_none":
            return None
        if kind == "as_float":
            return _float(v)
        if kind == "as_floats":
            return [_float(x) for x in v]
        if kind in ("as_int", "as_bool", "as_string", "as_ints", "as_bools", "as_strings", "as_int_lists",
                    "as_float_lists"):
            return v
        if kind in ("as_tensor", "as_optional_tensor"):
            return self._ref(v, where)
        if kind == "as_tensors":
            return [self._ref(t, where) for t in v]
        if kind == "as_optional_tensors":
            return [None if "as_none" in t else self._ref(t["as_tensor"], where) for t in v]
        if kind in ("as_sym_int", "as_sym_float", "as_sym_bool"):
            return self._sym_arg(v, where)
        if kind in ("as_sym_ints", "as_sym_floats", "as_sym_bools"):
            return [self._sym_arg(s, where) for s in v]
        if kind == "as_scalar_type":
            return Token(SCALAR_TYPES.get(v, (None, f"ScalarType({v})"))[1])
        if kind in ("as_layout", "as_memory_format"):
            return Token(f"{kind[3:]}({v})")
        if kind == "as_device":
            return Token(str(v.get("type")) if isinstance(v, dict) else "cpu")
        if kind == "as_complex":
            return complex(v.get("real", 0.0), v.get("imag", 0.0))
        return Token(f"<{kind}>")  # graphs, custom objects, operators: only higher-order ops use them

    def _ref(self, t: Any, where: Any) -> Node:
        name = t.get("name") if isinstance(t, dict) else None
        if name not in self.values:
            self.fail(f"node {where!r} uses {str(name)[:60]!r}, which no earlier node defines")
        return self.values[name]

    def _sym_arg(self, v: Any, where: Any) -> Any:
        k, x = _union(v)
        if k in ("as_int", "as_float", "as_bool"):
            return x
        if x not in self.values:
            self.fail(f"node {where!r} uses symbol {str(x)[:60]!r}, which no earlier node defines")
        return self.values[x]

    def _tensor_meta(self, name: str) -> TensorMeta:
        tm = (self.graph.get("tensor_values") or {}).get(name)
        if not isinstance(tm, dict):
            self.fail(f"value {name!r} has no tensor metadata")
        dims = tuple(self._dim(s, name) for s in tm.get("sizes") or [])
        return TensorMeta(dims, Token(SCALAR_TYPES.get(tm.get("dtype"), (None, f"ScalarType({tm.get('dtype')})"))[1]))

    def _sym(self, name: str):
        for table in ("sym_int_values", "sym_float_values", "sym_bool_values"):
            v = (self.graph.get(table) or {}).get(name)
            if v is not None:
                return self._dim(v, name)
        return None

    def _dim(self, s: Any, where: str):
        kind, v = _union(s)
        if kind in ("as_int", "as_float", "as_bool"):
            return v
        if kind == "as_expr":
            return SymDim(pt2_expr.dim_text(v.get("expr_str")))
        self.fail(f"value {where!r}: dimension {str(s)[:60]} is not an integer or expression")

    def _spec(self, s: dict) -> InputSpec:
        kind, v = _union(s)
        if kind not in _SPEC_KINDS:
            self.fail(f"input spec {kind} is not supported")
        arg = v.get("arg") if isinstance(v, dict) and isinstance(v.get("arg"), dict) else {}
        inner = _union(arg)[1]
        name = arg.get("name") if "name" in arg else inner.get("name") if isinstance(inner, dict) else None
        return InputSpec(_SPEC_KINDS[kind], _Name(_name(name)), v.get(_SPEC_TARGET.get(kind, ""), None))


_TARGET = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,200}")
_ILLEGAL = re.compile(r"[^0-9a-zA-Z_]+")


def _ranges(raw: dict) -> dict[str, SizeRange]:
    """range_constraints as recorded: {symbol: {min_val, max_val}} (ints or null)."""
    out = {}
    for sym, r in raw.items():
        lo, hi = (r.get("min_val"), r.get("max_val")) if isinstance(r, dict) else (None, None)
        out[sym] = SizeRange(lo if isinstance(lo, int) else 0, hi if isinstance(hi, int) else float("inf"))
    return out


def _name(text: Any) -> str:
    """A node name as torch.fx makes it legal (names torch wrote are legal already)."""
    name = _ILLEGAL.sub("_", str(text))[:200] or "_unnamed"
    return f"_{name}" if name[0].isdigit() else name


def _union(value: Any) -> tuple[str, Any]:
    """A serialized union is an object with exactly one key."""
    if not isinstance(value, dict) or len(value) != 1:
        return ("invalid", value)
    return next(iter(value.items()))


def _target_key(target: str) -> str:
    """torch's str() of the target: ``torch.ops.aten.relu.default`` -> ``aten.relu.default``,
    ``_operator.add`` -> ``<built-in function add>``."""
    if target.startswith("torch.ops."):
        return target[len("torch.ops."):]
    if target.startswith("_operator."):
        return f"<built-in function {target[len('_operator.'):]}>"
    return target


def _metadata(md: dict) -> dict:
    """nn_module_stack from its serialized ``key,path,type;...`` form."""
    out: dict = {}
    text = md.get("nn_module_stack")
    if isinstance(text, str) and text:
        stack = {}
        for item in text.split(";"):
            parts = _split_top(item)
            if len(parts) == 3:
                stack[parts[0]] = (parts[1], parts[2])
        out["nn_module_stack"] = stack
    return out


def _split_top(item: str) -> list[str]:
    """Split at commas outside brackets (a module path may hold ``[0]`` or ``(...)``)."""
    out, start, depth = [], 0, 0
    for i, c in enumerate(item):
        if c in "[(":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "," and depth == 0:
            out.append(item[start:i])
            start = i + 1
    out.append(item[start:])
    return out
