"""Walk a torch.export ExportedProgram and emit IR through a GraphBuilder.

Handlers are keyed by the ATen overload string (``"aten.conv2d.default"``) and receive
``(ctx, node)``; they return the IR value name(s) standing for the FX node's result.
Everything unsupported (ops and attribute values) is gathered and raised at once.
"""
from __future__ import annotations

import logging
import operator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import Unsupported, UnsupportedAttributeError, UnsupportedError
from ...ir.builder import GraphBuilder
from ...ir.graph import DIM_MAX, Graph, Node, Source
from . import mutation
from .pt2_shapes import pinned, plan_dims, upper_bound
from .registry import REG, load_handlers, register  # noqa: F401  (handler modules import them from here too)

log = logging.getLogger(__name__)

# FX call_function targets that carry no computation of their own.
_STRUCTURAL = {"<built-in function getitem>", "aten.sym_size.int", "aten._assert_scalar.default",
               "aten.sym_constrain_range_for_size.default", "aten._assert_tensor_metadata.default",
               "aten._assert_async.msg", "aten._assert_async.default", "aten.sym_constrain_range.default",
               "aten._functional_assert_async.msg", "aten._functional_sym_constrain_range.default",
               "aten._functional_sym_constrain_range_for_size.default", "aten._functional_assert_scalar.default"}

TORCH_DTYPE = {"torch.float32": "float32", "torch.float16": "float16", "torch.bfloat16": "bfloat16",
               "torch.float64": "float64", "torch.int64": "int64", "torch.int32": "int32", "torch.int16": "int16",
               "torch.int8": "int8", "torch.uint8": "uint8", "torch.bool": "bool"}


@dataclass
class Param:
    """A parameter, buffer or lifted constant: an IR weight made on first use."""

    target: str
    array: np.ndarray
    ir_name: str | None = None


@dataclass
class Zeros:
    """aten.zeros with a symbolic shape: only meaningful as an omitted RNN initial state."""

    shape: tuple


@dataclass
class Missing:
    """An output nothing may use (pool indices)."""

    what: str


def key_of(node) -> str:
    return str(node.target)


class TorchContext:
    def __init__(self, ep, input_names: list[str] | None = None, name: str = "model"):
        self.ep = ep
        self.b = GraphBuilder(name, "torch")
        self.env: dict[Any, Any] = {}
        self.sym_names: dict[str, str] = {}
        self.origin: dict[str, str] = {}  # IR value -> FX node name (for per-layer comparison)
        self.node = None
        self._input_names = input_names
        self.aliases: mutation.AliasMap | None = None
        self.env_initial: dict[Any, Any] = {}  # placeholder -> its value before an in-place op rebound it
        self.fixed: dict[str, int] = {}  # symbolic sizes pinned by --input-shape
        self.budget = None  # limits.Budget of the file read (None for a live module: its arrays exist)
        self.gaps: list | None = None  # pre-flight only: unsupported nodes are bridged, listed here

    def claim(self, what: str, shape, dtype="float32") -> list[int]:
        """Check a constant this node is about to create (ones, a filled tensor) against
        the file's budget before allocating it; returns the shape."""
        from ... import limits

        try:
            itemsize = np.dtype(dtype).itemsize
        except TypeError:  # bfloat16 without ml_dtypes
            itemsize = 2
        limits.claim(self.budget, f"node {self.layer_name!r}: {what}", shape, itemsize)
        return [int(d) for d in shape]

    # -- values ----------------------------------------------------------
    def v(self, arg, dtype: str | None = None) -> str:
        """The IR value name for a tensor argument (weights and scalars become weights)."""
        val = self.env[arg] if _is_fx(arg) else arg
        if isinstance(val, str):
            return val
        if isinstance(val, Param):
            if val.ir_name is None:
                val.ir_name = self.b.weight(val.target, val.array)
            return val.ir_name
        if isinstance(val, (bool, int, float)):
            dt = dtype or self.dtype(self.node)
            return self.b.weight(f"{self.layer_name}_const", np.asarray(val, dtype=dt))
        if isinstance(val, Zeros):
            raise UnsupportedAttributeError("zeros", val.shape, "a tensor of symbolic shape used outside an RNN state")
        if isinstance(val, Missing):
            raise UnsupportedAttributeError(val.what, "used", "only the first output is supported")
        raise UnsupportedAttributeError("argument", type(val).__name__, "not a tensor")

    def array(self, arg) -> np.ndarray | None:
        """The constant value of an argument (parameter, buffer, Python number), else None."""
        val = self.env[arg] if _is_fx(arg) else arg
        if isinstance(val, Param):
            return val.array
        if isinstance(val, (bool, int, float)):
            return np.asarray(val)
        return None

    def meta(self, arg):
        return arg.meta.get("val") if _is_fx(arg) else None

    def shape(self, arg) -> tuple:
        """Shape with ints for static dims and names for symbolic ones."""
        val = self.meta(arg)
        return tuple(self.dim(d) for d in val.shape)

    def rank(self, arg) -> int:
        return len(self.meta(arg).shape)

    def dim(self, d) -> int | str:
        if hasattr(d, "node"):  # a SymInt (int() would return its example value)
            value = pinned(d.node.expr, self.fixed)
            if value is not None:
                return value
            expr = str(d.node.expr)
            return self.sym_names.get(expr, expr)
        return int(d)

    def dtype(self, arg) -> str:
        val = self.meta(arg)
        if isinstance(val, (list, tuple)):
            val = val[0]
        return TORCH_DTYPE.get(str(getattr(val, "dtype", "torch.float32")), "float32")

    def args(self, node) -> list:
        """Positional arguments with the schema's defaults filled in."""
        schema = getattr(node.target, "_schema", None)
        if schema is None:
            return list(node.args)
        out = []
        for i, a in enumerate(schema.arguments):
            if i < len(node.args):
                out.append(node.args[i])
            elif a.name in node.kwargs:
                out.append(node.kwargs[a.name])
            elif a.has_default_value():
                out.append(a.default_value)
            else:
                out.append(None)
        return out

    # -- naming ----------------------------------------------------------
    @property
    def layer_name(self) -> str:
        return self.b.source.layer_name if self.b.source else "const"

    def op(self, op: str, *inputs: str, **attrs: Any) -> str:
        return self.b.op(op, *inputs, **attrs)

    def node_out(self, op: str, inputs, attrs=None, outputs: int = 1) -> list[str]:
        return self.b.node(op, inputs, attrs, outputs=outputs)


def _is_fx(arg) -> bool:
    return type(arg).__name__ in ("Node", "FunctionalNode") and hasattr(arg, "meta")


def _source(node) -> Source:
    """Name a node after its module path; functional ops inside a module get path.op."""
    stack = node.meta.get("nn_module_stack") or {}
    entries = [v for v in stack.values() if v[0] and not v[0].startswith("_empty")]
    if entries:
        path, cls = entries[-1]
        cls = str(cls).rsplit(".", 1)[-1].rstrip("'>")
        leaf = str(entries[-1][1]).startswith("torch.nn.modules.") and "container" not in str(entries[-1][1])
        if leaf:
            return Source("torch", cls, path)
        return Source("torch", key_of(node), f"{path}.{node.name}")
    return Source("torch", key_of(node), node.name)


def _handler(k: str):
    """The handler for an ATen key; an in-place key without its own handler uses the
    functional op's (the walk then rebinds the mutated argument)."""
    if k in REG:
        return REG.lookup(k)
    if mutation.is_inplace(k) and mutation.functional_key(k) in REG:
        return REG.lookup(mutation.functional_key(k))
    return None


def _where(n) -> str:
    stack = [v for v in (n.meta.get("nn_module_stack") or {}).values() if v[0] and not v[0].startswith("_empty")]
    where = f"in module {stack[-1][0]} ({str(stack[-1][1]).rsplit('.', 1)[-1]})" if stack else "in forward()"
    return f"FX node {n.name} {where}"


def preflight(ep) -> list[Unsupported]:
    """Every FX op without a handler, one entry per node (layer = module path)."""
    out = []
    for n in ep.graph.nodes:
        if n.op != "call_function":
            continue
        k = key_of(n)
        if k in _STRUCTURAL or _handler(k) is not None:
            continue
        out.append(Unsupported(_source(n).layer_name, k, hint=_where(n)))
    return out


def convert_exported(ep, input_names: list[str] | None = None, name: str = "model",
                     input_shapes: dict[str, tuple] | None = None, budget=None,
                     gaps: list | None = None) -> tuple[Graph, dict[str, str]]:
    """ExportedProgram (or the archive reader's Program) -> (IR graph, IR value -> FX node
    name). ``input_shapes`` (by input name) may pin or rename the program's dynamic
    dimensions (pt2_shapes.py). With a ``gaps`` list (the pre-flight check), unsupported
    nodes pass their first input through and are listed in ``gaps`` instead of raised,
    so the exporter can be checked on the rest."""

    load_handlers()
    problems = preflight(ep)
    if problems and gaps is None:
        raise UnsupportedError(problems, "PyTorch model")
    ctx = TorchContext(ep, input_names, name)
    ctx.budget = budget
    ctx.gaps = gaps
    ctx.aliases = mutation.AliasMap(list(ep.graph.nodes))
    state: dict[Any, str] = {}
    sig = ep.graph_signature
    kinds = {s.arg.name: s for s in sig.input_specs if hasattr(s.arg, "name")}
    user_inputs = [s.arg.name for s in sig.input_specs if _kind(s) == "USER_INPUT"]
    names = list(input_names) if input_names else list(user_inputs)
    if len(names) != len(user_inputs):
        from ...errors import UsageError

        raise UsageError(f"{len(names)} input names given for {len(user_inputs)} model inputs")
    rename = dict(zip(user_inputs, names))
    exported = {rename[n.name]: tuple(n.meta["val"].shape) for n in ep.graph.nodes
                if n.op == "placeholder" and n.name in rename and hasattr(n.meta.get("val"), "shape")}
    ctx.sym_names, ctx.fixed = plan_dims(ep, name, exported, input_shapes)
    for n in ep.graph.nodes:
        if n.op == "placeholder":
            spec = kinds.get(n.name)
            if spec is not None and _kind(spec) != "USER_INPUT":
                t = ep.state_dict.get(spec.target) if spec.target in ep.state_dict else ep.constants.get(spec.target)
                if t is None or not (hasattr(t, "detach") or isinstance(t, np.ndarray)):
                    ctx.b.unsupported(n.name, str(spec.kind), hint="non-tensor constant input")
                    ctx.env[n] = Missing(n.name)
                    continue
                # torch tensors from torch.export.load; numpy arrays from the archive reader
                ctx.env[n] = Param(spec.target, t if isinstance(t, np.ndarray) else t.detach().cpu().numpy())
                state[n] = spec.target
                continue
            val = n.meta.get("val")
            if not hasattr(val, "shape"):
                ctx.env[n] = val  # a non-tensor user input was specialised into the graph
                continue
            iname = rename.get(n.name, n.name)
            shape = []
            for axis, d in enumerate(val.shape):
                if not hasattr(d, "node") or pinned(d.node.expr, ctx.fixed) is not None:
                    shape.append(ctx.dim(d))
                else:
                    expr = str(d.node.expr)
                    if expr not in ctx.sym_names:
                        ctx.sym_names[expr] = "batch" if axis == 0 and "batch" not in ctx.sym_names.values() \
                            else f"{iname}_dim{axis}"
                    shape.append(ctx.sym_names[expr])
            ctx.env[n] = ctx.b.input(iname, ctx.dtype(n), shape)
            ctx.origin[ctx.env[n]] = n.name
        elif n.op == "call_function":
            _convert_node(ctx, n)
        elif n.op == "output":
            _outputs(ctx, n)
            _check_state(ctx, mutation.mutated_state(ep, ctx.aliases, state), state)
    if gaps is not None:
        gaps += problems + ctx.b.problems
        ctx.b.problems.clear()
    graph = ctx.b.finish("PyTorch model")
    for expr, dim in ctx.sym_names.items():
        if (upper := upper_bound(ep, expr)) is not None:
            graph.metadata[DIM_MAX + dim] = str(upper)
    return graph, ctx.origin


def _kind(spec) -> str:
    """The InputKind's name (torch's enum, or the archive reader's of the same names)."""
    return getattr(spec.kind, "name", str(spec.kind))


def _check_state(ctx: TorchContext, mutated: dict, state: dict) -> None:
    """A parameter or buffer the graph updates: fine while no output depends on the value
    the previous call left in it (the IR has no state to carry it)."""
    if not mutated or ctx.b.problems:
        return
    needed = mutation.reachable(ctx.b.graph, [v.name for v in ctx.b.graph.outputs])
    for node, writer in mutated.items():
        old = ctx.env_initial.get(node, ctx.env.get(node))
        if isinstance(old, Param) and old.ir_name is not None and old.ir_name in needed:
            ctx.b.unsupported(writer, "buffer mutation", hint=f"updates {state[node]!r} on every call and the "
                              "outputs read the value the previous call left there; a converted graph has no state")
        else:
            log.info("%s updates %r on every call; the outputs do not depend on it", writer, state[node])


def _convert_node(ctx: TorchContext, n) -> None:
    k = key_of(n)
    if ctx.gaps is not None and k not in _STRUCTURAL and _handler(k) is None:
        ctx.env[n] = _bridged(ctx, n)  # listed by preflight()
        return
    if mutation.is_inplace(k):
        _convert_inplace(ctx, n, k)
        return
    if k == "<built-in function getitem>":
        seq, idx = n.args
        ctx.env[n] = ctx.env[seq][idx]
        if isinstance(ctx.env[n], str):
            ctx.origin.setdefault(ctx.env[n], n.name)
        return
    if k == "aten.sym_size.int":
        ctx.env[n] = ("sym", n)
        return
    if k in _STRUCTURAL:
        ctx.env[n] = None
        return
    ctx.env[n] = _run_handler(ctx, n, k, REG.lookup(k), n)


def _convert_inplace(ctx: TorchContext, n, k: str) -> None:
    """``op_(x, ...)``: the functional result, rebound to every earlier name of ``x``."""
    from . import view_writes  # imports this module

    target = n.args[0]
    stale = ctx.aliases.stale_reader(target, n) if _is_fx(target) else None
    if stale is not None and view_writes.fold(ctx, n, k):
        return
    if stale is not None:
        alias, reader = stale
        ctx.b.unsupported(_source(n).layer_name, k, hint=f"{_where(n)} writes through {target.name}, which shares "
                          f"memory with {alias.name}; {reader.name} reads {alias.name} afterwards")
        ctx.env[n] = f"<unsupported {n.name}>"
        return
    handled = n if k in REG else mutation.FunctionalNode(n, mutation.functional_key(k))
    out = _run_handler(ctx, n, k, _handler(k), handled)
    ctx.env[n] = out
    if _is_fx(target):
        for m in ctx.aliases.same_tensor(target, n):
            if m.op == "placeholder" and m not in ctx.env_initial:
                ctx.env_initial[m] = ctx.env[m]
            ctx.env[m] = out


def _run_handler(ctx: TorchContext, n, k: str, handler, handled):
    ctx.node = handled
    ctx.b.source = _source(n)
    try:
        out = handler(ctx, handled)
    except UnsupportedAttributeError as e:
        ctx.b.attribute_error(ctx.b.source.layer_name, f"{ctx.b.source.layer_type} [{k}]"
                              if ctx.b.source.layer_type != k else k, e)
        out = f"<unsupported {n.name}>" if ctx.gaps is None else _bridged(ctx, n)
    finally:
        ctx.b.source = None
    if isinstance(out, str) and out not in ctx.origin:
        ctx.origin[out] = n.name
    return out


def _bridged(ctx: TorchContext, n):
    """The pre-flight stand-in for an unsupported node: its first tensor input, once per
    output (the layers after it are still checked against the exporter)."""
    first = next((ctx.env[a] for a in n.args if _is_fx(a) and isinstance(ctx.env.get(a), (str, Param))),
                 Missing(n.name))
    val = n.meta.get("val")
    return [first] * len(val) if isinstance(val, (list, tuple)) else first


def _outputs(ctx: TorchContext, n) -> None:
    """Graph outputs are named output (one) or output_<i> (several)."""
    outs = list(n.args[0]) if isinstance(n.args[0], (list, tuple)) else [n.args[0]]
    outs = mutation.user_output_args(ctx.ep, outs)
    values = []
    for o in outs:
        ctx.node = o
        ctx.b.source = Source("torch", "output", "output")
        try:
            values.append((ctx.v(o), ctx.dtype(o), ctx.shape(o)))
        except UnsupportedAttributeError as e:
            ctx.b.attribute_error("output", "output", e)
        finally:
            ctx.b.source = None
    if ctx.b.problems and ctx.gaps is None:
        return
    single = len(values) == 1
    produced = {o: node for node in ctx.b.graph.nodes for o in node.outputs if o}
    used_names: set[str] = set()
    for i, (val, dtype, shape) in enumerate(values):
        want = "output" if single else f"output_{i}"
        if val in produced and val not in used_names and want not in ctx.b._names:
            _rename(ctx, val, want)
            final = want
        else:  # a graph input, a weight, or a value returned twice
            ctx.b.source = Source("torch", "output", want)
            final = ctx.b.node("Identity", [val], name=f"{want}_identity", out_names=[want])[0]
            ctx.b.source = None
        used_names.add(final)
        ctx.b.output(final, dtype, shape)


def _rename(ctx: TorchContext, old: str, new: str) -> None:
    ctx.b.reserve(new)
    for node in ctx.b.graph.nodes:
        node.outputs = [new if o == old else o for o in node.outputs]
        node.inputs = [new if i == old else i for i in node.inputs]
    if old in ctx.origin:
        ctx.origin[new] = ctx.origin.pop(old)
    for k, v in list(ctx.env.items()):
        if v == old:
            ctx.env[k] = new


def is_fx(arg) -> bool:
    return _is_fx(arg)


__all__ = ["REG", "register", "TorchContext", "convert_exported", "Param", "Zeros", "Missing", "is_fx", "operator"]
