"""Seeded verification inputs that respect dtypes, vocabularies and dynamic dimensions."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..ir.graph import Graph, Value

# Two sizes for every dynamic dimension: a size baked into a Reshape at trace time
# passes at one size and fails at the other.
DYNAMIC_SIZES = {"batch": (1, 3)}
DEFAULT_DYNAMIC = (4, 6)


@dataclass
class InputSet:
    seed: int
    arrays: dict[str, np.ndarray]

    @property
    def shapes(self) -> dict[str, list[int]]:
        return {k: list(v.shape) for k, v in self.arrays.items()}


def _vocab_size(graph: Graph, value: str) -> int | None:
    """Upper bound for integer ids: the row count of the table a Gather reads with them."""
    for n in graph.nodes:
        if n.op == "Gather" and len(n.inputs) > 1 and n.inputs[1] == value and n.inputs[0] in graph.weights:
            return int(graph.weights[n.inputs[0]].shape[n.attrs.get("axis", 0)])
    return None


def _concrete(v: Value, variant: int, overrides: dict[str, tuple]) -> tuple[int, ...]:
    if v.name in overrides:
        return tuple(int(d) for d in overrides[v.name])
    if v.shape is None:
        raise UsageError(f"input {v.name!r} has an unknown shape; pass --input-shape {v.name}:D0,D1,...")
    out = []
    for d in v.shape:
        if isinstance(d, int) and d >= 0:
            out.append(d)
        else:
            sizes = DYNAMIC_SIZES.get(str(d), DEFAULT_DYNAMIC)
            out.append(sizes[variant % len(sizes)])
    return tuple(out)


def has_dynamic(graph: Graph) -> bool:
    return any(not isinstance(d, int) or d < 0 for v in graph.inputs for d in (v.shape or ()))


def make_inputs(graph: Graph, seed: int = 0, variant: int = 0, overrides: dict[str, tuple] | None = None) -> InputSet:
    rng = np.random.default_rng(seed)
    arrays = {}
    for v in graph.inputs:
        shape = _concrete(v, variant, overrides or {})
        if v.dtype.startswith("int") or v.dtype.startswith("uint"):
            high = _vocab_size(graph, v.name) or 10
            arrays[v.name] = rng.integers(0, high, size=shape).astype(v.dtype)
        elif v.dtype == "bool":
            arrays[v.name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            arrays[v.name] = rng.standard_normal(shape).astype(v.dtype if v.dtype != "bfloat16" else "float32")
    return InputSet(seed, arrays)


def input_plan(graph: Graph, samples: int = 1, seed: int = 0, overrides: dict[str, tuple] | None = None) -> list[InputSet]:
    """`samples` seeded input sets per size variant; two variants when any dim is dynamic."""
    variants = 2 if has_dynamic(graph) and not overrides else 1
    return [make_inputs(graph, seed + s * 1000 + v, v, overrides) for v in range(variants) for s in range(samples)]
