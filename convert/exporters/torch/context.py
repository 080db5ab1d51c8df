"""The context torch export handlers write through: layers for ``__init__``, lines for
``forward``, the state dict, and Python-safe names for values and attributes.

Everything here is strings and numpy arrays: the generated source is the single
definition of the model, both for ``torch-source`` files and for ``to_torch`` (which
executes the same source), so the two can never disagree."""
from __future__ import annotations

import keyword
import re
from typing import Any, Sequence

import numpy as np

from ...errors import UnsupportedAttributeError
from ...ir.graph import Graph, Node
from ...ir.optable import attr_value as attr  # noqa: F401  (re-exported for the handlers)
from ...naming import fresh

_IDENT = re.compile(r"[^A-Za-z0-9_]")
# Names the generated module itself uses.
_RESERVED = {"self", "torch", "nn", "F", "math", "json", "struct", "super", "Model", "load_model", "load_safetensors",
             "SOURCE_MODEL_NAME", "_DTYPES"}
# nn.Module attributes a submodule must not shadow (checked lazily against torch too).
_MODULE_ATTRS = {"forward", "training", "eval", "train", "state_dict", "modules", "children", "parameters",
                 "buffers", "apply", "cuda", "cpu", "to", "type", "float", "double", "half", "zero_grad",
                 "register_buffer", "register_module", "add_module", "get_submodule", "extra_repr",
                 "named_modules", "named_parameters", "named_buffers", "load_state_dict", "requires_grad_"}

TORCH_DTYPE = {"float32": "torch.float32", "float16": "torch.float16", "bfloat16": "torch.bfloat16",
               "float64": "torch.float64", "int64": "torch.int64", "int32": "torch.int32",
               "int16": "torch.int16", "int8": "torch.int8", "uint8": "torch.uint8", "bool": "torch.bool"}


def py(v: Any) -> str:
    """Python source for a constructor argument (numpy scalars become plain Python)."""
    if isinstance(v, (list, tuple)):
        items = [py(x) for x in v]
        if isinstance(v, tuple):
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        return "[" + ", ".join(items) + "]"
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        if v != v:  # repr() would give the bare name nan, undefined in the module
            return "math.nan"
        if v == float("inf"):
            return "math.inf"
        if v == float("-inf"):
            return "-math.inf"
    return repr(v)


# Longer names are cut (uniqueness comes from fresh()): a 10,000-character layer name
# would make every line of the generated source unreadable.
MAX_IDENTIFIER = 48


def identifier(name: str, prefix: str = "v") -> str:
    """A valid, non-reserved Python identifier derived from ``name`` (ASCII letters,
    digits and underscores only): names from a model file never reach code as-is."""
    s = _IDENT.sub("_", str(name))[:MAX_IDENTIFIER].strip("_") or prefix
    if s[0].isdigit():
        s = f"{prefix}_{s}"
    if keyword.iskeyword(s) or s in _RESERVED:
        s = f"{s}_"
    if not (s.isascii() and s.isidentifier()):  # cannot happen by construction; never emit one that fails
        raise ValueError(f"derived identifier {s!r} is not a Python identifier")
    return s


class TorchContext:
    def __init__(self, graph: Graph, shapes: dict[str, tuple]):
        self.graph = graph
        self.shapes = shapes
        self.modules: list[tuple[str, str]] = []  # (attribute, constructor source)
        self.buffers: list[tuple[str, np.ndarray]] = []
        self.state: dict[str, np.ndarray] = {}
        self.lines: list[str] = []
        self.node: Node | None = None
        self._vars: dict[str, str] = {}
        self._locals: set[str] = set()
        self._attrs: set[str] = set(_MODULE_ATTRS)
        self._buffer_of: dict[str, str] = {}
        self._layer_used: set[str] = set()
        self.done: set[str] = set()  # nodes already written by a fusing handler
        self.consumers = graph.consumers()
        self.graph_outputs = {v.name for v in graph.outputs}

    # -- names -------------------------------------------------------------
    def _local(self, base: str) -> str:
        base = identifier(base)
        name = fresh(base, self._locals)
        self._locals.add(name)
        return name

    def _attr(self, base: str) -> str:
        base = identifier(base, "m")
        name = fresh(base, self._attrs)
        self._attrs.add(name)
        return name

    def input_var(self, value: str) -> str:
        var = self._local(value)
        self._vars[value] = var
        return var

    def out(self, value: str) -> str:
        """The variable an output value is assigned to."""
        if not value:
            return "_"
        if value not in self._vars:
            self._vars[value] = self._local(value)
        return self._vars[value]

    def tmp(self, base: str) -> str:
        return self._local(base)

    # -- operands ------------------------------------------------------------
    def weight(self, value: str) -> np.ndarray | None:
        return self.graph.weights.get(value) if value else None

    def x(self, value: str) -> str:
        """Source expression for an input value; a weight becomes a registered buffer."""
        if value in self._vars:
            return self._vars[value]
        if value in self.graph.weights:
            if value not in self._buffer_of:
                name = self._attr(value)
                self._buffer_of[value] = name
                self.buffers.append((name, self.graph.weights[value]))
                self.state[name] = self.graph.weights[value]
            return f"self.{self._buffer_of[value]}"
        raise KeyError(f"value {value!r} used before it is defined")

    def buffer(self, base: str, arr: np.ndarray) -> str:
        """A constant the handler computed (not a graph weight) as a registered buffer."""
        name = self._attr(base)
        self.buffers.append((name, arr))
        self.state[name] = arr
        return f"self.{name}"

    def shape(self, value: str) -> tuple | None:
        return self.shapes.get(value)

    def rank(self, value: str) -> int | None:
        s = self.shape(value)
        return None if s is None else len(s)

    # -- emission ------------------------------------------------------------
    def layer(self, node: Node, ctor: str, args: Sequence = (), kwargs: dict | None = None,
              state: dict[str, np.ndarray] | None = None) -> str:
        """Declare one submodule, named after the node's source layer; returns ``self.<name>``."""
        base = node.source.layer_name if node.source and node.source.layer_name else node.name
        if base in self._layer_used:  # a second node of the same source layer
            base = node.name
        self._layer_used.add(base)
        member = self._attr(base)
        kw = {k: v for k, v in (kwargs or {}).items() if not _is_default(ctor, k, v)}
        parts = [py(a) for a in args] + [f"{k}={py(v)}" for k, v in kw.items()]
        self.modules.append((member, f"{ctor}({', '.join(parts)})"))
        for k, arr in (state or {}).items():
            # a view (a transposed weight) stays a view: the module shares it, and the
            # safetensors writer lays it out a block of rows at a time
            self.state[f"{member}.{k}"] = arr
        return f"self.{member}"

    def line(self, text: str) -> None:
        self.lines.append(text)

    def assign(self, outputs: Sequence[str] | str, expr: str) -> None:
        outs = [outputs] if isinstance(outputs, str) else list(outputs)
        self.lines.append(f"{', '.join(self.out(o) for o in outs)} = {expr}")


def _is_default(ctor: str, key: str, value: Any) -> bool:
    """Constructor defaults left out of the generated source, for readability."""
    seq = value if isinstance(value, (list, tuple)) else [value]
    if key in ("dilation",) or (key == "stride" and "Conv" in ctor):
        return all(v == 1 for v in seq)
    if key in ("padding", "output_padding"):
        return all(v == 0 for v in seq)
    return {"groups": 1, "bias": True, "ceil_mode": False, "count_include_pad": True}.get(key, object()) == value


def unsupported_attr(attribute: str, value: Any, hint: str = "") -> UnsupportedAttributeError:
    return UnsupportedAttributeError(attribute, value, hint)


