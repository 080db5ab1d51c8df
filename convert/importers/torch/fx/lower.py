"""Lower a symbolically traced GraphModule to an ATen-level FX graph, then convert that
with the same handlers (``ops_*.py``) and walker pieces (``context.py``) as torch.export.

Each traced node maps to new nodes whose targets are ATen overloads, whose
``meta["val"]`` is a TV (shape with Sym dims, dtype) and whose ``nn_module_stack``
names the module, so layer names and types match the torch.export path.
"""
from __future__ import annotations

from typing import Any

from ....errors import Unsupported
from ....ir.graph import Graph
from .front import LOWER, ROOT, SHAPE_QUERIES, TV, FxUnsupported, Sym, key, leaf_key


def _stack_strings(stack) -> dict:
    """nn_module_stack with class names as torch.export writes them ("torch.nn.modules.conv.Conv2d")."""
    out = {}
    for k, (path, cls) in (stack or {}).items():
        if path == ROOT:  # the module being converted (named by its node, as torch.export does)
            continue
        out[k] = (path, cls if isinstance(cls, str) else f"{cls.__module__}.{cls.__qualname__}")
    return out


class Lowerer:
    def __init__(self, gm, shapes: dict, consts: dict):
        import torch.fx

        self.gm = gm
        self.shapes = shapes
        self.consts = consts
        self.g = torch.fx.Graph()
        self.env: dict = {}  # traced node -> new node, a structure of them, or a Python value
        self.preset: dict = {}  # new node -> context value (Param)
        self.origin: dict[str, str] = {}  # new node name -> traced node name
        self.problems: list[Unsupported] = []
        self.node = None  # the traced node being lowered
        self._params: dict = {}

    # -- helpers for lowering functions ------------------------------------------------
    def meta(self, n=None):
        """The traced node's shape summary (TV, int/Sym, tuple ...)."""
        return self.shapes.get(self.node if n is None else n)

    def a(self, arg):
        """A traced argument in the new graph (nodes mapped, structures kept)."""
        import torch.fx

        return torch.fx.node.map_aggregate(arg, lambda x: self.env[x] if isinstance(x, torch.fx.Node) else x)

    def static(self, value, what: str):
        """A Python value that must not depend on the batch."""
        flat = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, Sym) for v in flat) or any(hasattr(v, "op") for v in flat):
            self.fail(what, value, "a value computed from the input")
        return value

    def emit(self, target, args: tuple, val=None, primary: bool = True, module: str | None = None):
        """A new call_function node; ``val`` defaults to the traced node's shape."""
        # the primary node takes the traced node's name, so layer names match torch.export's
        n = self.g.create_node("call_function", target, tuple(args), name=self.node.name if primary else None)
        n.meta["val"] = self.meta() if val is None else val
        n.meta["nn_module_stack"] = _stack_strings(self.node.meta.get("nn_module_stack"))
        if primary:
            self.origin[n.name] = self.node.name
        return n

    def module(self, n):
        """The submodule a ``call_module`` node runs."""
        return self.gm.get_submodule(n.target)

    def getitems(self, n, vals: list) -> tuple:
        """The outputs of a multi-output node as getitem nodes."""
        import operator

        return tuple(self.emit(operator.getitem, (n, i), val=v, primary=False) for i, v in enumerate(vals))

    def param(self, name: str, tensor):
        """A parameter/buffer/folded constant as a get_attr node holding a Param."""
        from ..context import Param

        if tensor is None:
            return None
        if name in self._params:
            return self._params[name]
        n = self.g.get_attr(name.replace(".", "_"))
        name = name[len(ROOT) + 1:] if name.startswith(ROOT + ".") else name
        n.meta["val"] = TV(tuple(tensor.shape), tensor.dtype)
        self.preset[n] = Param(name, tensor.detach().cpu().numpy())
        self._params[name] = n
        return n

    def fail(self, attribute: str, value: Any = None, hint: str = "") -> None:
        raise FxUnsupported([Unsupported(self.node.name, key(self.node) if self.node.op != "call_module"
                                         else self.node.target, attribute, value, hint)])

    # -- lowering -------------------------------------------------------------------------
    def lower(self):
        for n in self.gm.graph.nodes:
            self.node = n
            try:
                self._lower_node(n)
            except FxUnsupported as e:
                self.problems.extend(e.problems)
                self.env[n] = None
        if self.problems:
            raise FxUnsupported(self.problems)
        return self.g

    def _lower_node(self, n) -> None:
        if n.op == "placeholder":
            val = self.meta(n)
            if n.target.startswith("*"):  # forward(*xs): xs_0, xs_1, ... as torch.export names them
                self.env[n] = tuple(self._input(f"{n.target[1:]}_{i}", v, n) for i, v in enumerate(val))
            elif isinstance(val, TV):
                self.env[n] = self._input(n.target, val, n)
            else:
                self.env[n] = val  # an optional argument left at its default
        elif n.op == "output":
            if self.problems:
                return
            flat = []
            _flatten(self.a(n.args[0]), flat)
            if any(not hasattr(v, "op") for v in flat):
                self.fail("output", [type(v).__name__ for v in flat if not hasattr(v, "op")], "non-tensor output")
            self.g.output(tuple(flat) if len(flat) > 1 else flat[0])
        elif n in self.consts:
            self.env[n] = self.param(n.target if n.op == "get_attr" else f"{n.name}_const", self.consts[n])
        elif n.op == "get_attr":
            self.env[n] = self.meta(n)  # a non-tensor attribute
        elif self._is_fact(n):
            self.env[n] = self.meta(n)
        elif n.op == "call_module":
            mod = self.module(n)
            self.env[n] = LOWER.lookup(leaf_key(mod))(self, n)
        else:
            k = key(n)
            fn = LOWER.lookup(k)
            if fn is None:
                self.fail("call", k, "no torch.fx lowering")
            self.env[n] = fn(self, n)

    def _input(self, name: str, val, n):
        if not isinstance(val, TV):
            self.fail("input", type(val).__name__, "tensor inputs")
        p = self.g.placeholder(name)
        p.meta["val"] = val
        p.meta["input_name"] = name  # FX renames "input" (a builtin) to "input_1"
        self.origin[p.name] = n.name
        return p

    def _is_fact(self, n) -> bool:
        """A non-tensor result known from the shape passes: sizes and arithmetic on them."""
        import torch.fx

        val = self.meta(n)
        if _has_tensor(val):
            return False
        if key(n) in SHAPE_QUERIES:
            return True
        ins = n.all_input_nodes
        return all(not _has_tensor(self.meta(i)) for i in ins if isinstance(i, torch.fx.Node))

    # -- conversion --------------------------------------------------------------------------
    def convert(self, g, input_names: list[str] | None, name: str) -> tuple[Graph, dict[str, str]]:
        from ....errors import UsageError
        from ..context import TorchContext, _convert_node, _outputs

        ctx = TorchContext(None, input_names, name)
        placeholders = [n for n in g.nodes if n.op == "placeholder"]
        names = list(input_names) if input_names else [n.meta["input_name"] for n in placeholders]
        if len(names) != len(placeholders):
            raise UsageError(f"{len(names)} input names given for {len(placeholders)} model inputs")
        for n in g.nodes:
            if n.op == "placeholder":
                iname = names[placeholders.index(n)]
                shape = [d if isinstance(d, int) else ("batch" if d.node.expr == "batch" and axis == 0
                                                       else f"{iname}_dim{axis}")
                         for axis, d in enumerate(n.meta["val"].shape)]
                ctx.env[n] = ctx.b.input(iname, ctx.dtype(n), shape)
                ctx.origin[ctx.env[n]] = n.name
            elif n.op == "get_attr":
                ctx.env[n] = self.preset[n]
            elif n.op == "call_function":
                _convert_node(ctx, n)
            elif n.op == "output":
                _outputs(ctx, n)
        graph = ctx.b.finish("PyTorch model")
        origin = {v: self.origin[k] for v, k in ctx.origin.items() if k in self.origin}
        return graph, origin


def _flatten(v, out: list) -> None:
    if isinstance(v, (list, tuple)):
        for x in v:
            _flatten(x, out)
    elif v is not None:
        out.append(v)


def _has_tensor(val) -> bool:
    if isinstance(val, TV):
        return True
    if isinstance(val, (list, tuple)):
        return any(_has_tensor(v) for v in val)
    return hasattr(val, "opaque")


__all__ = ["Lowerer"]
