"""The IR graph: values, nodes, weights. Standard library and numpy only."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Union

import numpy as np

Dim = Union[int, str]  # a str is a symbolic dimension such as "batch"

DTYPES = ("float32", "float16", "bfloat16", "float64", "int64", "int32", "int16", "int8", "uint8", "bool")


def numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype of an IR dtype name; numpy has no bfloat16: ml_dtypes (an onnx
    dependency) defines it."""
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


@dataclass
class Value:
    name: str
    dtype: str = "float32"
    shape: tuple[Dim, ...] | None = None

    def to_json(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": None if self.shape is None else list(self.shape)}

    @classmethod
    def from_json(cls, d: dict) -> "Value":
        shape = d.get("shape")
        return cls(d["name"], d.get("dtype", "float32"), None if shape is None else tuple(shape))


@dataclass(frozen=True)
class Source:
    """Where a node came from, for error messages and per-layer comparison."""

    framework: str
    layer_type: str
    layer_name: str

    def to_json(self) -> dict:
        return {"framework": self.framework, "layer_type": self.layer_type, "layer_name": self.layer_name}


@dataclass
class Node:
    op: str
    name: str
    inputs: list[str]  # "" marks an omitted optional input
    outputs: list[str]  # "" marks an unused optional output
    attrs: dict[str, Any] = field(default_factory=dict)
    source: Source | None = None

    def to_json(self) -> dict:
        d = {"op": self.op, "name": self.name, "inputs": list(self.inputs), "outputs": list(self.outputs),
             "attrs": {k: _jsonable(v) for k, v in sorted(self.attrs.items())}}
        if self.source is not None:
            d["source"] = self.source.to_json()
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Node":
        src = d.get("source")
        return cls(d["op"], d["name"], list(d["inputs"]), list(d["outputs"]), dict(d.get("attrs", {})),
                   Source(**src) if src else None)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    return v


# Metadata key prefix: "dim_max.<symbolic dim>" -> the largest size the source declared for
# it (torch.export's Dim max), so verification never runs the source past it.
DIM_MAX = "dim_max."


@dataclass
class Graph:
    name: str = "model"
    inputs: list[Value] = field(default_factory=list)
    outputs: list[Value] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    values: dict[str, Value] = field(default_factory=dict)  # known types of intermediate values
    metadata: dict[str, str] = field(default_factory=dict)  # DIM_MAX + symbol: its largest size

    # -- queries -------------------------------------------------------
    def producers(self) -> dict[str, Node]:
        return {o: n for n in self.nodes for o in n.outputs if o}

    def consumers(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    out.setdefault(i, []).append(n)
        return out

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def value_info(self, name: str) -> Value | None:
        for v in self.inputs + self.outputs:
            if v.name == name:
                return v
        if name in self.values:
            return self.values[name]
        if name in self.weights:
            w = self.weights[name]
            return Value(name, str(w.dtype), tuple(w.shape))
        return None

    def param_count(self, node: Node) -> int:
        return int(sum(self.weights[i].size for i in node.inputs if i in self.weights))

    def weight_bytes(self) -> int:
        return int(sum(w.nbytes for w in self.weights.values()))

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __repr__(self) -> str:  # a summary: the default one would print every weight array
        return (f"<Graph {self.name!r}: {len(self.nodes)} nodes, {len(self.inputs)} input(s), "
                f"{len(self.outputs)} output(s), {len(self.weights)} weights, {self.weight_bytes() / 2**20:.2f} MiB>")

    def copy(self) -> "Graph":
        """A structural copy sharing the weight arrays (passes replace arrays; one mutates an
        array only when nothing else refers to it, see passes/fold_bn.py)."""
        return Graph(self.name, [Value(v.name, v.dtype, v.shape) for v in self.inputs],
                     [Value(v.name, v.dtype, v.shape) for v in self.outputs],
                     [Node(n.op, n.name, list(n.inputs), list(n.outputs), dict(n.attrs), n.source) for n in self.nodes],
                     dict(self.weights), {k: Value(v.name, v.dtype, v.shape) for k, v in self.values.items()},
                     dict(self.metadata))

    def prune(self) -> "Graph":
        """Drop nodes and weights that no graph output depends on."""
        needed = {v.name for v in self.outputs}
        keep = []
        for n in reversed(self.nodes):
            if any(o in needed for o in n.outputs if o):
                keep.append(n)
                needed.update(i for i in n.inputs if i)
        self.nodes = keep[::-1]
        self.weights = {k: w for k, w in self.weights.items() if k in needed}
        return self

    def to_json(self) -> dict:
        return {
            "format": "nnir",
            "version": 1,
            "name": self.name,
            "inputs": [v.to_json() for v in self.inputs],
            "outputs": [v.to_json() for v in self.outputs],
            "nodes": [n.to_json() for n in self.nodes],
            "values": [self.values[k].to_json() for k in sorted(self.values)],
            "weights": {k: {"dtype": str(w.dtype), "shape": list(w.shape)} for k, w in sorted(self.weights.items())},
            "metadata": dict(sorted(self.metadata.items())),
        }
