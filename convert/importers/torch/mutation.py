"""In-place and mutating ATen ops in a torch.export graph, turned into plain dataflow.

``torch.export.export`` keeps in-place ops (``relu_``, ``add_``, ``hardswish_``, ``copy_``):
every ``nn.ReLU(inplace=True)`` and ``out += identity``. The IR has no memory, so the walk
converts ``op_(x, ...)`` with the handler of ``op(x, ...)`` and *rebinds* ``x``: every later
use of ``x`` (or of the in-place node's result) sees the new value.

That is exact unless another name for the same memory is read afterwards. So a mutation is
refused, with the node named, when:

- it goes through a view (``x.view``, ``x[:, :2]``, ``split``...) or its value has views, and
  another alias of that memory is read after it (the rebinding would miss that reader);
- it changes a parameter or buffer and the outputs depend on the value that the previous
  call left there (a converted graph has no state). A buffer that is updated but never
  read before being overwritten (a counter, a cache of the last input) does not change the
  outputs; that is logged.

The same rule covers graphs functionalized by ``run_decompositions`` (the mutated buffers
are extra outputs listed in ``graph_signature.output_specs``). Everything here is keyed on
node targets and arguments, so it works on any FX-like graph.
"""
from __future__ import annotations

import logging
from typing import Any, Iterator

log = logging.getLogger(__name__)

# Ops whose result shares memory with their first argument (checked by schema when the
# target has one; this list serves graphs whose targets are plain names).
_VIEWS = {"view", "_unsafe_view", "reshape", "flatten", "slice", "select", "transpose", "permute", "unsqueeze",
          "squeeze", "expand", "as_strided", "t", "numpy_T", "alias", "detach", "narrow", "unfold", "split",
          "split_with_sizes", "chunk", "unbind", "view_as", "contiguous", "diagonal", "movedim", "swapaxes",
          "unflatten", "expand_as", "tensor_split"}
_GETITEM = "<built-in function getitem>"


def packet(key: str) -> str:
    """``aten.relu_.default`` -> ``relu_``."""
    parts = key.split(".")
    return parts[1] if len(parts) == 3 and parts[0] == "aten" else ""


def is_inplace(key: str) -> bool:
    """An ATen in-place overload: ``aten.<name>_.<overload>`` (dunder ops excluded)."""
    name = packet(key)
    return name.endswith("_") and not name.startswith("__") and len(name) > 1


def functional_key(key: str) -> str:
    """``aten.add_.Tensor`` -> ``aten.add.Tensor``."""
    ns, name, overload = key.split(".")
    return f"{ns}.{name[:-1]}.{overload}"


class FunctionalTarget:
    """Stands for the functional overload when a functional handler converts an in-place
    node: ``str()`` is its key, ``_schema`` the in-place schema (same arguments)."""

    def __init__(self, key: str, inplace_target: Any):
        self._key = key
        self._schema = getattr(inplace_target, "_schema", None)

    def __str__(self) -> str:
        return self._key


class FunctionalNode:
    """The in-place FX node seen by a functional handler (only ``target`` differs)."""

    def __init__(self, node, key: str):
        self._node = node
        self.target = FunctionalTarget(key, node.target)

    def __getattr__(self, attr: str):
        return getattr(self._node, attr)


def fx_inputs(node) -> Iterator[Any]:
    """FX nodes among a node's args and kwargs (nested lists, tuples and dicts included)."""
    stack = list(node.args) + list(node.kwargs.values())
    while stack:
        a = stack.pop()
        if isinstance(a, (list, tuple)):
            stack.extend(a)
        elif isinstance(a, dict):
            stack.extend(a.values())
        elif hasattr(a, "meta") and hasattr(a, "op"):
            yield a


def _returns_alias(node, key: str) -> bool:
    # torch's schema knows; the archive reader's argument table has no returns, so the
    # table of view ops below answers for it.
    returns = getattr(getattr(node.target, "_schema", None), "returns", None)
    if returns:
        info = returns[0].alias_info
        return info is not None and not info.is_write
    return packet(key) in _VIEWS


class AliasMap:
    """Which FX nodes name the same memory (views and in-place results share the memory of
    their first argument) and which name the very same tensor (in-place results only)."""

    def __init__(self, nodes: list):
        self.order = {n: i for i, n in enumerate(nodes)}
        self.memory: dict[Any, Any] = {}
        self.tensor: dict[Any, Any] = {}
        self.readers: dict[Any, list] = {}
        for n in nodes:
            self.memory[n] = self.tensor[n] = n
            if n.op != "call_function":
                continue
            key = str(n.target)
            base = n.args[0] if n.args and hasattr(n.args[0], "op") else None
            if base is not None and is_inplace(key):
                self.memory[n], self.tensor[n] = self.memory[base], self.tensor[base]
            elif base is not None and (_returns_alias(n, key)
                                       or (key == _GETITEM and _returns_alias(base, str(base.target)))):
                self.memory[n] = self.memory[base]
            for a in fx_inputs(n):
                self.readers.setdefault(a, []).append(n)

    def same_tensor(self, target, at) -> list:
        """Earlier names of exactly ``target``'s tensor: all of them see ``at``'s new value."""
        t, pos = self.tensor[target], self.order[at]
        return [m for m, tt in self.tensor.items() if tt is t and self.order[m] < pos]

    def stale_reader(self, target, at) -> tuple[Any, Any] | None:
        """(alias, reader): another view of ``target``'s memory, made before ``at`` and read
        after it; rebinding ``target`` cannot update it."""
        mem, t, pos = self.memory[target], self.tensor[target], self.order[at]
        for m, mm in self.memory.items():
            if mm is not mem or self.tensor[m] is t or self.order[m] >= pos:
                continue
            for r in self.readers.get(m, []):
                if self.order[r] > pos:
                    return m, r
        return None


def mutated_state(ep, aliases: AliasMap, state: dict) -> dict[Any, str]:
    """Parameter/buffer placeholders written by the graph -> the node that writes them.

    ``state`` maps placeholder node -> its state_dict/constant name."""
    out: dict[Any, str] = {}
    for n in ep.graph.nodes:
        if n.op == "call_function" and is_inplace(str(n.target)) and n.args and hasattr(n.args[0], "op"):
            root = aliases.memory[n.args[0]]
            if root in state:
                out.setdefault(root, n.name)
    by_target = {name: node for node, name in state.items()}
    for spec in getattr(ep.graph_signature, "output_specs", []):
        if str(getattr(spec.kind, "name", spec.kind)) in ("BUFFER_MUTATION", "PARAMETER_MUTATION"):
            node = by_target.get(spec.target)
            if node is not None:
                out.setdefault(node, getattr(spec.arg, "name", "output"))
    return out


def user_output_args(ep, outs: list) -> list:
    """The output node's values that are user outputs (a functionalized graph also returns
    the new values of mutated buffers and inputs first)."""
    specs = list(getattr(getattr(ep, "graph_signature", None), "output_specs", []))  # no program: torch.fx
    if len(specs) != len(outs):
        return outs
    kept = [o for o, s in zip(outs, specs) if str(getattr(s.kind, "name", s.kind)) in ("USER_OUTPUT", "LOSS_OUTPUT")]
    dropped = [getattr(s.arg, "name", "?") for s in specs if str(getattr(s.kind, "name", s.kind)) == "USER_INPUT_MUTATION"]
    if dropped:
        log.info("the model writes into its input(s) (%s); the converted graph returns only the outputs",
                 ", ".join(dropped))
    return kept


def reachable(graph, outputs: list[str]) -> set[str]:
    """IR value names the graph outputs depend on."""
    producer = {o: node for node in graph.nodes for o in node.outputs if o}
    seen: set[str] = set()
    stack = list(outputs)
    while stack:
        v = stack.pop()
        if v in seen or not v:
            continue
        seen.add(v)
        node = producer.get(v)
        if node is not None:
            stack.extend(node.inputs)
    return seen
