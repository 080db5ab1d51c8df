"""Fuse a trailing activation into the layer before it, where the target can express it.

The IR keeps the activation a node of its own (ONNX output is unchanged: onnxruntime
fuses Conv+Relu itself); the writers of targets with fused forms ask this pass which
activation each Conv / ConvTranspose / Gemm / MatMul (+ bias Add) absorbs: the Keras
writer sets ``activation=`` on the Conv/Dense layer, the Caffe writer runs the neuron
layer in place. ``--disable-pass fuse-activation`` (or ``--no-optimize``) turns it off;
it reaches the writers as the writer option ``fuse_activations``.
"""
from __future__ import annotations

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


# LiteRT ops with a fused_activation_function field, beyond the layers
TFLITE_PRODUCERS = PRODUCERS + ("Add", "Sub", "Mul", "Div", "Concat")


def producers_for(target: str) -> tuple[str, ...]:
    """The ops whose output ``target``'s writer can fuse an activation into."""
    return TFLITE_PRODUCERS if target == "tflite" else PRODUCERS


CAFFE_IN_PLACE = ("Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Abs", "Softplus", "Clip")


def accept_for(target: str) -> Callable[[Node], bool] | None:
    """Which activations ``target``'s writer fuses (None: the target has no fused form)."""
    if target == "keras":
        from ..exporters.keras.activations import fused_name

        return lambda n: fused_name(n) is not None
    if target == "caffe":
        return lambda n: n.op in CAFFE_IN_PLACE
    if target == "tflite":
        from ..exporters.tflite.activations import fused_code

        return lambda n: fused_code(n) is not None
    return None


def report(graph: Graph, target: str) -> list[str]:
    """What the writer of ``target`` fuses, in words (for the pass report)."""
    accept = accept_for(target)
    if accept is None:
        return []
    return [f"{act.name} ({act.op}) into the layer computing {value}"
            for value, act in fusable_activations(graph, accept, producers_for(target)).items()]


def enabled(optimize: bool = True, disable=()) -> dict:
    """The writer options that switch writer-side passes (``fuse_activations``)."""
    return {"fuse_activations": bool(optimize) and "fuse-activation" not in set(disable or ())}
