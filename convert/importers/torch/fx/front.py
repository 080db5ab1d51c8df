"""Fast front end for live modules: ``torch.fx.symbolic_trace`` instead of torch.export.

torch.export imports dynamo and runs symbolic shapes through every op (every LSTM
timestep); importing and running it costs seconds. This front end traces with FX
(no dynamo), keeping the layers the importer knows as ``call_module`` leaves, runs the
traced graph twice for shapes only (on the example inputs and with the batch grown by
one; convolutions, pooling and dense layers are not computed, their output shapes come
from torch's formulas), and lowers every node to the ATen ops the handlers in
``ops_*.py`` already convert.

Dimensions that change with the batch become symbolic (``batch``, ``k*batch+c``), so
reshape targets keep the batch dynamic exactly as on the torch.export path. Whatever
FX cannot trace or this front end cannot lower raises ``FxUnsupported``; ``from_torch``
then falls back to torch.export (tracer ``"auto"``).
"""
from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from ....errors import Unsupported, UnsupportedError
from ....ir.graph import Graph
from ....ir.optable import OPS
from ....registry import Registry

log = logging.getLogger(__name__)

# Keys: "module:<torch.nn class name>", "fn:<module>.<name>", "method:<name>".
LOWER: Registry = Registry("torch fx lowering", produces_ir=False)
register = LOWER.register

# Leaves whose output shape the shape passes compute by formula (leaf_shape) on a
# full-rank input instead of running them.
HEAVY = {"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Linear",
         "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d",
         "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d"}
# Calls whose non-tensor result is a shape fact (kept as a constant or a symbolic int).
SHAPE_QUERIES = {"method:size", "method:dim", "method:numel", "method:ndimension", "fn:builtins.getattr",
                 "fn:builtins.len"}
# Never folded to constants: random or uninitialised values.
_RANDOM = ("rand", "normal", "bernoulli", "multinomial", "uniform", "dropout", "poisson", "empty")


class FxUnsupported(Exception):
    """This front end cannot handle the model; torch.export may."""

    def __init__(self, problems: list[Unsupported]):
        super().__init__("; ".join(str(p) for p in problems[:5]))
        self.problems = problems


class Sym:
    """A dimension that depends on the batch, shaped like a SymInt for TorchContext.dim."""

    def __init__(self, expr: str):
        self.node = SimpleNamespace(expr=expr)

    def __repr__(self) -> str:
        return self.node.expr

    def __eq__(self, other) -> bool:
        return isinstance(other, Sym) and other.node.expr == self.node.expr

    def __hash__(self) -> int:
        return hash(self.node.expr)


@dataclass
class TV:
    """A tensor's shape (ints and Syms) and torch dtype: what handlers read from meta["val"]."""

    shape: tuple
    dtype: Any

    def dim(self) -> int:
        return len(self.shape)


def key(node) -> str:
    if node.op == "call_method":
        return f"method:{node.target}"
    t = node.target
    mod = getattr(t, "__module__", None) or ""
    mod = {"_operator": "operator", "torch._C._VariableFunctions": "torch"}.get(mod, mod)
    return f"fn:{mod}.{getattr(t, '__name__', str(t))}"


def leaf_key(module) -> str | None:
    cls = type(module)
    if not cls.__module__.startswith("torch.nn."):
        return None  # user subclasses may override forward()
    k = f"module:{cls.__name__}"
    return k if k in LOWER else None


# -- tracing ------------------------------------------------------------------------
def trace(module, args: tuple):
    """symbolic_trace with the registered layers as leaves; unused optional forward()
    arguments are made concrete so ``if h is None`` branches trace the right way."""
    import torch
    import torch.fx

    _load_handlers()

    class Tracer(torch.fx.Tracer):
        def is_leaf_module(self, m, qualname: str) -> bool:
            return leaf_key(m) is not None

    concrete = {}
    try:
        params = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        params = []
    if leaf_key(module) is not None:
        return _trace_leaf(module, [p.name for p in params], len(args))
    if any(p.kind == p.VAR_KEYWORD for p in params):
        raise FxUnsupported([Unsupported(type(module).__name__, "forward(**kwargs)", hint="keyword-only forward()")])
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < len(params) and params[len(positional)].kind != params[len(positional)].VAR_POSITIONAL:
        raise FxUnsupported([Unsupported(type(module).__name__, "forward()", hint="keyword-only arguments")])
    if len(positional) < len(params) and len(args) > len(positional):
        module = _fixed_arity(module, [p.name for p in positional], params[len(positional)].name, len(args))
    for p in positional[len(args):]:
        if p.default is inspect.Parameter.empty:
            raise FxUnsupported([Unsupported(type(module).__name__, "forward()", hint=f"no input for {p.name}")])
        concrete[p.name] = p.default
    try:
        graph = Tracer().trace(module, concrete_args=concrete or None)
    except Exception as e:  # noqa: BLE001  (data-dependent control flow and the like)
        raise FxUnsupported([Unsupported(type(module).__name__, "torch.fx", hint=_first_line(e))]) from e
    return torch.fx.GraphModule(module, graph, type(module).__name__)


ROOT = "_root"  # the attribute holding a module that is itself a leaf (a bare nn.LSTM)


def _trace_leaf(module, names: list[str], n_args: int):
    """A module that is itself a leaf: one call_module node in a wrapper."""
    import torch
    import torch.fx

    wrapper = torch.nn.Module()
    wrapper.add_module(ROOT, module)
    g = torch.fx.Graph()
    phs = [g.placeholder(n) for n in names[:n_args]]
    g.output(g.call_module(ROOT, tuple(phs)))
    return torch.fx.GraphModule(wrapper, g, type(module).__name__)


def _fixed_arity(module, names: list[str], star: str, n_args: int):
    """``forward(self, *xs)`` cannot be traced (FX cannot unpack a proxy): the same module
    state seen through a subclass whose forward takes ``xs_0, xs_1, ...`` explicitly."""
    cls = type(module)
    params = names + [f"{star}_{i}" for i in range(n_args - len(names))]
    ns: dict = {}
    exec(f"def forward(self, {', '.join(params)}):\n    return _f(self, {', '.join(params)})",  # noqa: S102
         {"_f": cls.forward}, ns)
    sub = type(cls.__name__, (cls,), {"forward": ns["forward"], "__module__": cls.__module__})
    shell = sub.__new__(sub)
    object.__setattr__(shell, "__dict__", module.__dict__)  # shared state, no copy
    return shell


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"


def _load_handlers() -> None:
    from . import activations, attention, functions, modules  # noqa: F401
    from ..registry import load_handlers

    load_handlers()


# -- shapes ---------------------------------------------------------------------------
def _summary(res):
    import torch

    if isinstance(res, torch.Tensor):
        return TV(tuple(int(d) for d in res.shape), res.dtype)
    if isinstance(res, torch.Size):
        return tuple(int(d) for d in res)
    if isinstance(res, (tuple, list)):
        return type(res)(_summary(r) for r in res)
    if isinstance(res, (int, float, bool, str, type(None), torch.dtype, torch.device)):
        return res
    return SimpleNamespace(opaque=type(res).__name__)


# The IR op each parameter-free or per-channel torch leaf becomes (Dropout and Identity
# fold away at inference; their IR ops state the same fact).
MODULE_OPS = {"ReLU": "Relu", "LeakyReLU": "LeakyRelu", "ELU": "Elu", "SELU": "Selu", "CELU": "Celu", "GELU": "Gelu",
              "SiLU": "Silu", "Mish": "Mish", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Hardswish": "HardSwish",
              "Hardsigmoid": "HardSigmoid", "Hardtanh": "Clip", "ReLU6": "Clip", "Softplus": "Softplus",
              "Softsign": "Softsign", "Softmax": "Softmax", "LogSoftmax": "LogSoftmax", "PReLU": "PRelu",
              "Dropout": "Dropout", "Dropout1d": "Dropout", "Dropout2d": "Dropout", "Dropout3d": "Dropout",
              "AlphaDropout": "Dropout", "FeatureAlphaDropout": "Dropout", "Identity": "Identity",
              "BatchNorm1d": "BatchNormalization", "BatchNorm2d": "BatchNormalization",
              "BatchNorm3d": "BatchNormalization", "LayerNorm": "LayerNormalization"}


def _same_shape() -> frozenset[str]:
    """Leaves whose output has the input's shape and dtype (the op table's keeps_shape):
    the shape pass passes their input on."""
    return frozenset(m for m, op in MODULE_OPS.items() if OPS[op].keeps_shape)


SAME_SHAPE = _same_shape()


def shape_pass(gm, args: tuple, constant: set):
    """Run gm on ``args`` for shapes only; return per-node summaries and the real values of
    constant nodes. Values are not needed, so same-shape leaves pass their input on and
    heavy leaves (convolution, pooling, dense) return empty tensors of the shape torch's
    formulas give (leaf_shape)."""
    import torch
    import torch.fx

    out, consts = {}, {}

    class Shapes(torch.fx.Interpreter):
        def run_node(self, n):
            res = None
            if n.op == "call_module" and len(n.args) == 1 and not n.kwargs:
                res = self._leaf(n, self.env[n.args[0]] if isinstance(n.args[0], torch.fx.Node) else None)
            if res is None:
                res = super().run_node(n)
            out[n] = _summary(res)
            if n in constant and isinstance(res, torch.Tensor):
                consts[n] = res
            return res

        def _leaf(self, n, x):
            if not isinstance(x, torch.Tensor) or not x.is_floating_point():
                return None
            mod = self.fetch_attr(n.target)
            name = type(mod).__name__
            if name in SAME_SHAPE:
                return x
            if name not in HEAVY or not _per_sample(mod, x):
                return None
            shape = leaf_shape(mod, tuple(x.shape))
            if VERIFY_LEAF_SHAPES:
                real = tuple(mod(x).shape)
                assert shape == real, f"{n.target}: computed shape {shape}, torch gives {real}"
            return torch.empty(shape, dtype=x.dtype)

    with torch.no_grad():
        Shapes(gm).run(*args)
    return out, consts


VERIFY_LEAF_SHAPES = False  # tests set it: leaf_shape is then checked against torch's own result


def leaf_shape(mod, x: tuple) -> tuple:
    """Output shape of a heavy leaf on a full-rank input, by torch's formulas (no compute)."""
    name = type(mod).__name__
    if name == "Linear":
        return x[:-1] + (mod.out_features,)
    sp = x[2:]
    if name.startswith("Adaptive"):
        o = mod.output_size if isinstance(mod.output_size, (list, tuple)) else [mod.output_size] * len(sp)
        return x[:2] + tuple(i if d is None else int(d) for d, i in zip(o, sp))
    k, s = _n(mod.kernel_size, len(sp)), _n(mod.stride or mod.kernel_size, len(sp))
    d = _n(getattr(mod, "dilation", 1), len(sp))
    if name.startswith("ConvTranspose"):
        p, op = _n(mod.padding, len(sp)), _n(mod.output_padding, len(sp))
        out = [(i - 1) * s_ - 2 * p_ + d_ * (k_ - 1) + o_ + 1 for i, s_, p_, d_, k_, o_ in zip(sp, s, p, d, k, op)]
        return (x[0], mod.out_channels, *out)
    if name.startswith("Conv"):
        if mod.padding == "same":
            return (x[0], mod.out_channels, *sp)
        p = [0] * len(sp) if mod.padding == "valid" else _n(mod.padding, len(sp))
        return (x[0], mod.out_channels, *[(i + 2 * p_ - d_ * (k_ - 1) - 1) // s_ + 1
                                          for i, p_, d_, k_, s_ in zip(sp, p, d, k, s)])
    p, ceil = _n(mod.padding, len(sp)), bool(mod.ceil_mode)
    out = []
    for i, p_, d_, k_, s_ in zip(sp, p, d, k, s):  # torch's pooling_output_shape
        o = (i + 2 * p_ - d_ * (k_ - 1) - 1 + (s_ - 1 if ceil else 0)) // s_ + 1
        if ceil and (o - 1) * s_ >= i + p_:
            o -= 1
        out.append(o)
    return x[:2] + tuple(out)


def _n(v, n: int) -> list[int]:
    return [int(i) for i in v] if isinstance(v, (list, tuple)) else [int(v)] * n


def _per_sample(mod, x) -> bool:
    """Whether axis 0 of ``x`` is a batch axis for this heavy leaf (not an unbatched input)."""
    name = type(mod).__name__
    if name == "Linear":
        return x.dim() >= 2
    if name in ("Upsample", "Embedding", "LayerNorm"):
        return False
    nsp = int(name[-2]) if name[-2].isdigit() else None
    return nsp is not None and x.dim() == nsp + 2


def merge(first, second, b1: int):
    """Pass-1 and pass-2 summaries -> one with Sym dims where the batch (b1 -> b1+1) shows."""
    if second is None:
        return first
    if isinstance(first, TV) and isinstance(second, TV):
        return TV(tuple(_dim(a, b, b1) for a, b in zip(first.shape, second.shape)), first.dtype)
    if isinstance(first, (tuple, list)) and isinstance(second, (tuple, list)) and len(first) == len(second):
        return type(first)(merge(a, b, b1) for a, b in zip(first, second))
    if isinstance(first, int) and not isinstance(first, bool) and isinstance(second, int) and first != second:
        return _dim(first, second, b1)
    return first


def _dim(a: int, b: int, b1: int):
    if a == b:
        return a
    k, c = b - a, a - (b - a) * b1
    expr = "batch" if k == 1 else f"{k}*batch"
    return Sym(expr if c == 0 else f"{expr}{c:+d}")


# -- driver ---------------------------------------------------------------------------
def convert_module(module, args: tuple, *, dynamic_batch: bool = True, input_names: list[str] | None = None,
                   name: str = "model") -> tuple[Graph, dict[str, str], Any]:
    """Live module -> (IR graph, IR value -> traced node name, traced GraphModule).
    Raises FxUnsupported when this front end cannot convert the model."""
    import torch

    module.eval()
    if not all(isinstance(a, torch.Tensor) for a in args):
        raise FxUnsupported([Unsupported(name, "inputs", hint="non-tensor example inputs")])
    gm = trace(module, args)
    constant = _constant_nodes(gm)
    for n in gm.graph.nodes:  # the shape passes run forward(): it must not change the module's state
        if n.op == "call_method" and n.target.endswith("_") and not n.target.startswith("__") and \
                n.args and n.args[0] in constant:
            raise FxUnsupported([Unsupported(n.name, f"method:{n.target}", hint="updates a parameter or buffer in place")])
    try:
        first, consts = shape_pass(gm, args, constant)
    except Exception as e:  # noqa: BLE001
        raise FxUnsupported([Unsupported(name, "forward()", hint=_first_line(e))]) from e
    shapes = first
    if dynamic_batch and args:
        b1 = int(args[0].shape[0]) if args[0].dim() else None
        grown = tuple(_grown(a) for a in args)
        try:
            if b1 is None or any(a.dim() == 0 or int(a.shape[0]) != b1 for a in args):
                raise ValueError("inputs do not share a batch size on axis 0")
            second, _ = shape_pass(gm, grown, constant)
            shapes = {n: merge(first[n], second.get(n), b1) for n in first}
        except Exception as e:  # noqa: BLE001  (the model fixes its batch size)
            log.warning("the model does not run with another batch size (%s); converting with static shapes",
                        _first_line(e))
    from .lower import Lowerer

    low = Lowerer(gm, shapes, consts)
    graph_fx = low.lower()
    graph, origin = low.convert(graph_fx, input_names, name)
    graph.metadata.update({"source_framework": "torch", "torch_version": torch.__version__.split("+")[0]})
    return graph, origin, gm


def _grown(a):
    import torch

    shape = (int(a.shape[0]) + 1,) + tuple(a.shape[1:])
    # zeros, not empty: integer inputs may be embedding ids.
    return torch.zeros(shape, dtype=a.dtype)


def _constant_nodes(gm) -> set:
    """Nodes that depend on no input and call nothing random: folded to weights."""
    const: set = set()
    for n in gm.graph.nodes:
        if n.op == "get_attr":
            const.add(n)
        elif n.op in ("call_function", "call_method") and all(i in const for i in n.all_input_nodes):
            name = str(getattr(n.target, "__name__", n.target))
            if not any(r in name for r in _RANDOM):
                const.add(n)
    return const


def from_module(module, args: tuple, *, dynamic_batch, input_names, tracer: str = "auto",
                gaps: list | None = None):
    """(graph, origin, fx module or None, ExportedProgram or None) by the chosen tracer.
    ``dynamic_batch`` is a bool (axis 0 of every input) or, per input, the axes to keep
    symbolic; axes other than 0 go to torch.export. ``gaps``: see convert_exported."""
    from ..trace import convert_program, export_module

    from ....errors import UsageError

    if tracer not in ("auto", "fx", "export"):
        raise UsageError(f"tracer must be 'auto', 'fx' or 'export', not {tracer!r}")
    axes = [{0} for _ in args] if dynamic_batch is True else list(dynamic_batch or [])
    name = type(module).__name__
    fx_ok = all(set(a) <= {0} for a in axes)
    if tracer == "fx" and not fx_ok:
        raise UnsupportedError([Unsupported(name, "dynamic axes", value=axes, hint="torch.fx: batch axis 0 only")],
                               "PyTorch model (torch.fx front end)")
    if tracer != "export" and fx_ok:
        try:
            graph, origin, gm = convert_module(module, args, dynamic_batch=any(axes), input_names=input_names,
                                               name=name)
            return graph, origin, gm, None
        except FxUnsupported as e:
            if tracer == "fx":
                raise UnsupportedError(e.problems, "PyTorch model (torch.fx front end)") from e
            log.debug("torch.fx front end cannot convert %s (%s); using torch.export", name, e)
        except UsageError:
            raise
        except Exception as e:  # noqa: BLE001  (auto: torch.export may still convert it)
            if tracer == "fx":
                raise
            log.debug("torch.fx front end: %s; using torch.export", _first_line(e))
    ep = export_module(module, args, [set(a) for a in axes] if any(axes) else None)
    graph, origin = convert_program(ep, input_names, name, gaps=gaps)
    return graph, origin, None, ep


__all__ = ["LOWER", "register", "FxUnsupported", "Sym", "TV", "convert_module", "from_module", "key", "leaf_key"]
