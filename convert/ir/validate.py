"""IR invariants, checked after import and after every pass."""
from __future__ import annotations

from ..errors import InvalidGraphError
from .graph import DTYPES, Graph
from .optable import OPS

_PY_KIND = {
    "int": (int,), "float": (int, float), "str": (str,),
}


def _check_attr(node: str, op: str, name: str, kind: str, value) -> None:
    if kind in _PY_KIND:
        ok = isinstance(value, _PY_KIND[kind]) and not isinstance(value, bool)
    else:
        elem = _PY_KIND[kind[:-1]]
        ok = isinstance(value, (list, tuple)) and all(isinstance(x, elem) and not isinstance(x, bool) for x in value)
    if not ok:
        raise InvalidGraphError("attribute type", node, f"{op}.{name} must be {kind}, got {value!r}")


def validate(graph: Graph) -> None:
    """Raise InvalidGraphError on the first broken invariant: known ops, valid
    attributes, input counts, unique node names, single assignment, topological order,
    every input defined, every output produced."""
    defined: set[str] = {v.name for v in graph.inputs} | set(graph.weights)
    if len(defined) != len(graph.inputs) + len(graph.weights):
        raise InvalidGraphError("unique names", None, "a graph input shares its name with a weight")
    node_names: set[str] = set()
    for n in graph.nodes:
        spec = OPS.get(n.op)
        if spec is None:
            raise InvalidGraphError("known op", n.name, f"unknown op {n.op!r}")
        if n.name in node_names:
            raise InvalidGraphError("unique names", n.name, "duplicate node name")
        node_names.add(n.name)
        nin = len(n.inputs)
        if nin < spec.min_inputs or (spec.max_inputs is not None and nin > spec.max_inputs):
            raise InvalidGraphError("input count", n.name, f"{n.op} takes {spec.min_inputs}..{spec.max_inputs} inputs, got {nin}")
        for port, value in zip(spec.inputs, n.inputs):
            if not value and not port.optional:
                raise InvalidGraphError("input defined", n.name, f"required input {port.name!r} is empty")
        for a, v in n.attrs.items():
            if a not in spec.attrs:
                raise InvalidGraphError("known attribute", n.name, f"{n.op} has no attribute {a!r}")
            _check_attr(n.name, n.op, a, spec.attrs[a].kind, v)
            choices = spec.attrs[a].choices
            if choices and v not in choices:
                raise InvalidGraphError("attribute value", n.name, f"{n.op}.{a}={v!r} not in {choices}")
        for a, s in spec.attrs.items():
            if s.required and a not in n.attrs:
                raise InvalidGraphError("required attribute", n.name, f"{n.op} needs {a!r}")
        for i in n.inputs:
            if i and i not in defined:
                raise InvalidGraphError("topological order", n.name, f"input {i!r} is not defined before use")
        for o in n.outputs:
            if not o:
                continue
            if o in defined:
                raise InvalidGraphError("single assignment", n.name, f"value {o!r} assigned twice")
            defined.add(o)
    for v in graph.inputs + graph.outputs:
        if v.dtype not in DTYPES:
            raise InvalidGraphError("dtype", None, f"{v.name}: unknown dtype {v.dtype!r}")
    for v in graph.outputs:
        if v.name not in defined:
            raise InvalidGraphError("outputs produced", None, f"graph output {v.name!r} is never produced")
