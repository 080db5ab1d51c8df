"""Seeded verification inputs that respect dtypes, vocabularies and dynamic dimensions."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..ir.graph import DIM_MAX, Graph, Value
from ..ir.optable import attr_value

# Two sizes for every dynamic dimension: a size baked into a Reshape at trace time
# passes at one size and fails at the other. Batch-like dimensions (named so, or the
# leading axis unless named like a sequence) get (1, 3); the open axes of an image or
# volume (inputs of rank >= 4) get (80, 96): large enough for every stock CNN (Inception
# needs 75), and halving to 5 and 6 after four stride-2 stages, so 'same' pads that
# depend on the size (odd vs even) differ between the two runs. Every other dynamic
# dimension (sequence length) gets (16, 24). A dimension the graph bounds (a position table
# of N rows read with arange over it) gets sizes up to N instead (dim_bounds).
BATCH_SIZES = (1, 3)
SPATIAL_SIZES = (80, 96)
DEFAULT_DYNAMIC = (16, 24)
# Ops that carry integer ids unchanged on the way to the Gather that uses them.
_ID_PASSTHROUGH = ("Cast", "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose")


@dataclass
class InputSet:
    seed: int
    arrays: dict[str, np.ndarray]

    @property
    def shapes(self) -> dict[str, list[int]]:
        return {k: list(v.shape) for k, v in self.arrays.items()}


def _vocab_size(graph: Graph, value: str) -> int | None:
    """Upper bound for ids: the row count of the table a Gather reads with them (also
    through casts and reshapes, e.g. Caffe's Embed, whose ids arrive as float32)."""
    consumers = graph.consumers()
    todo, seen = [value], set()
    while todo:
        v = todo.pop()
        if v in seen:
            continue
        seen.add(v)
        for n in consumers.get(v, []):
            if n.op == "Gather" and len(n.inputs) > 1 and n.inputs[1] == v and n.inputs[0] in graph.weights:
                return int(graph.weights[n.inputs[0]].shape[attr_value(n, "axis")])
            if n.op in _ID_PASSTHROUGH and n.inputs and n.inputs[0] == v:
                todo.extend(o for o in n.outputs if o)
    return None


_SEQUENCE_WORDS = ("seq", "time", "len", "step", "token")


def dynamic_sizes(dim, axis: int, rank: int, bound: int | None = None) -> tuple[int, int]:
    """The two sizes a dynamic dimension takes in verification (batch, open image axis, other),
    at most ``bound`` (the largest size the model can run, see ``dim_bounds``)."""
    name = str(dim).lower()
    if "batch" in name or (axis == 0 and not any(w in name for w in _SEQUENCE_WORDS)):
        sizes = BATCH_SIZES
    elif rank >= 4 and not any(w in name for w in _SEQUENCE_WORDS):
        sizes = SPATIAL_SIZES
    else:
        sizes = DEFAULT_DYNAMIC
    if bound is None or max(sizes) <= bound:
        return sizes
    # the bound itself, and two thirds of it: still two sizes that differ
    return (max(1, 2 * bound // 3), max(1, bound))


def dim_bounds(graph: Graph) -> dict[str, int]:
    """Symbolic dimension -> the largest size the graph can run: the size its source
    declared (metadata ``DIM_MAX``, torch.export's Dim max), and a range over that axis
    (``SizeRange``, torch.arange(ids.size(1))) used as the ids of a table's Gather (a
    position embedding of N rows) stops at N. Sizes past either make the source model
    itself fail (a guard, an IndexError), so verification must not pick them."""
    declared = {k[len(DIM_MAX):]: int(v) for k, v in graph.metadata.items()
                if k.startswith(DIM_MAX) and str(v).isdigit()}
    ranges = [n for n in graph.nodes if n.op == "SizeRange"]
    if not ranges:
        return declared
    shapes = {v.name: v.shape for v in list(graph.values.values()) + graph.inputs if v.shape is not None}
    if any(n.inputs[0] not in shapes for n in ranges):
        from ..runtime.shapes import infer_shapes

        shapes = {**infer_shapes(graph), **shapes}
    out = dict(declared)
    for n in ranges:
        shape = shapes.get(n.inputs[0]) or ()
        axis = attr_value(n, "axis")
        dim = shape[axis] if -len(shape) <= axis < len(shape) else None
        rows = _vocab_size(graph, n.outputs[0])
        start, delta = attr_value(n, "start"), attr_value(n, "delta")
        if not isinstance(dim, str) or rows is None or start < 0 or delta < 1:
            continue
        # arange(start, L, delta) reads rows start .. L-1 at most: L <= rows
        out[dim] = min(out.get(dim, rows), rows)
    return out


def _concrete(v: Value, variant: int, overrides: dict[str, tuple], bounds: dict[str, int]) -> tuple[int, ...]:
    if v.name in overrides:
        return tuple(int(d) for d in overrides[v.name])
    if v.shape is None:
        from ..flags import shape_hint

        raise UsageError(f"input {v.name!r} has an unknown shape; pass {shape_hint({v.name: ('D0', 'D1', '...')})}")
    out = []
    for axis, d in enumerate(v.shape):
        if isinstance(d, int) and d >= 0:
            out.append(d)
        else:
            sizes = dynamic_sizes(d, axis, len(v.shape), bounds.get(d) if isinstance(d, str) else None)
            out.append(sizes[variant % len(sizes)])
    return tuple(out)



def make_inputs(graph: Graph, seed: int = 0, variant: int = 0, overrides: dict[str, tuple] | None = None,
                bounds: dict[str, int] | None = None) -> InputSet:
    rng = np.random.default_rng(seed)
    arrays = {}
    bounds = dim_bounds(graph) if bounds is None else bounds
    for v in graph.inputs:
        shape = _concrete(v, variant, overrides or {}, bounds)
        vocab = _vocab_size(graph, v.name)
        if v.dtype.startswith("int") or v.dtype.startswith("uint") or vocab is not None:
            high = vocab or 10
            arrays[v.name] = rng.integers(0, high, size=shape).astype(v.dtype if v.dtype != "bfloat16" else "float32")
        elif v.dtype == "bool":
            arrays[v.name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            arrays[v.name] = rng.standard_normal(shape).astype(v.dtype if v.dtype != "bfloat16" else "float32")
    return InputSet(seed, arrays)


def input_plan(graph: Graph, samples: int = 1, seed: int = 0, overrides: dict[str, tuple] | None = None) -> list[InputSet]:
    """``samples`` seeded input sets per size variant; two variants (every dynamic
    dimension at its first size, then at its second) when any dimension is dynamic and
    the user did not fix every input's shape."""
    overrides = {k: v for k, v in (overrides or {}).items()
                 if all(isinstance(d, int) and d >= 0 for d in v)}
    dynamic = any(not isinstance(d, int) or d < 0 for v in graph.inputs if v.name not in overrides
                  for d in (v.shape or ()))
    variants = 2 if dynamic else 1
    bounds = dim_bounds(graph) if dynamic else {}
    return [make_inputs(graph, seed + s * 1000 + v, v, overrides, bounds)
            for v in range(variants) for s in range(samples)]
