"""Fuse a trailing activation into the layer before it, where the target can express it.

The IR keeps the activation a node of its own (ONNX output is unchanged: onnxruntime
fuses Conv+Relu itself); the writers of targets with fused forms ask this pass which
activation each Conv / ConvTranspose / Gemm / MatMul (+ bias Add) absorbs: the Keras
writer sets ``activation=`` on the Conv/Dense layer, the Caffe writer runs the neuron
layer in place. Each writer declares what it fuses (a ``Fusion`` in its ``fusion.py``);
this pass knows no target. ``--disable-pass fuse-activation`` (or
``--no-optimize``) turns it off; it reaches the writers as the writer option
``fuse_activations``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..ir.graph import Graph, Node

PRODUCERS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def fusable_activations(graph: Graph, accept: Callable[[Node], bool],
                        producers_ops: tuple[str, ...] = PRODUCERS) -> dict[str, Node]:
    """{value: activation node} for each Conv/ConvTranspose/Gemm/MatMul output (or the
    output of a constant bias Add right after a MatMul; or of any ``producers_ops``)
    read by one node only, an activation ``accept`` takes, with the value not a graph output."""
    producers = graph.producers()
    consumers = graph.consumers()
    outputs = {v.name for v in graph.outputs}
    found: dict[str, Node] = {}
    for value, users in consumers.items():
        if len(users) != 1 or value in outputs or value in graph.weights:
            continue
        act, prev = users[0], producers.get(value)
        if prev is None or len(act.inputs) < 1 or act.inputs[0] != value:
            continue
        if not _produces(graph, prev, producers, producers_ops):
            continue
        if any(i == value for i in act.inputs[1:]) or not accept(act):
            continue
        found[value] = act
    return found


def _produces(graph: Graph, node: Node, producers: dict[str, Node], ops: tuple[str, ...]) -> bool:
    if node.op in ops:
        return True
    if node.op == "Add" and len(node.inputs) == 2:  # MatMul + bias, which writers fold into Dense/InnerProduct
        for k in (0, 1):
            src = producers.get(node.inputs[k])
            if src is not None and src.op == "MatMul" and node.inputs[1 - k] in graph.weights:
                return True
    return False


@dataclass(frozen=True)
class Fusion:
    """What one target's writer fuses, declared in that writer's ``fusion.py`` (and named
    by its format's ``fuses``): the activations it ``accept``s, and the ops whose output
    it can fuse them into."""
    accept: Callable[[Node], bool]
    producers: tuple[str, ...] = PRODUCERS

    def find(self, graph: Graph) -> dict[str, Node]:
        return fusable_activations(graph, self.accept, self.producers)


def report(graph: Graph, fusion: Fusion | None) -> list[str]:
    """What a writer declaring ``fusion`` fuses, in words (for the pass report)."""
    if fusion is None:
        return []
    return [f"{act.name} ({act.op}) into the layer computing {value}" for value, act in fusion.find(graph).items()]


def enabled(optimize: bool = True, disable=()) -> dict:
    """The writer options that switch writer-side passes (``fuse_activations``)."""
    return {"fuse_activations": bool(optimize) and "fuse-activation" not in set(disable or ())}
