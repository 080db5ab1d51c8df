"""Folding nodes whose inputs are all known at import time (shape arithmetic, weight
transposes, Constant/ConstantOfShape/Range chains) with onnx's numpy reference
implementation, after checking that the result stays small."""
from __future__ import annotations

import math

import numpy as np

# Never folded: random generators and control flow (If has its own handler).
NO_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli",
           "If", "Loop", "Scan", "Dropout"}
MAX_FOLD_ELEMENTS = 2**27  # 512 MiB of float32: the largest fill of a real dense layer
# All folded results of one model together: a file of a few bytes can ask for many fills.
MAX_FOLD_TOTAL_BYTES = 2 * 2**30


def result_elements(node, inputs: list[np.ndarray | None]) -> int | None:
    """An upper bound on the elements of a node's result for the ops whose result size is
    chosen by their operand values (the rest are bounded by their inputs' sizes)."""
    op = node.op_type
    try:
        if op == "ConstantOfShape":
            return math.prod(int(d) for d in inputs[0])
        if op == "Range":
            start, limit, delta = (float(np.asarray(a).reshape(())) for a in inputs[:3])
            return max(0, math.ceil((limit - start) / delta)) if delta else None
        if op == "Expand":
            return math.prod(int(max(a, b)) for a, b in _aligned(inputs[0].shape, list(inputs[1])))
        if op == "Tile":
            return inputs[0].size * math.prod(int(r) for r in inputs[1])
        if op in ("Resize", "Upsample", "Pad", "OneHot", "EyeLike"):
            return None  # size not bounded cheaply: leave the node to the graph
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return 2 * sum(a.size for a in inputs if a is not None) + 1


def _aligned(a, b):
    n = max(len(a), len(b))
    a = [1] * (n - len(a)) + list(a)
    b = [1] * (n - len(b)) + list(b)
    return zip(a, b)


def evaluate(node, inputs: list[np.ndarray | None], opset: int) -> list[np.ndarray] | None:
    """The node's outputs, or None when it cannot (or should not) be folded."""
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    if node.op_type in NO_FOLD or node.domain not in ("", "ai.onnx"):
        return None
    n = result_elements(node, inputs)
    if n is None or n > MAX_FOLD_ELEMENTS:
        return None
    inits = [numpy_helper.from_array(np.asarray(a), name) for name, a in zip(node.input, inputs) if name]
    outs = [helper.make_empty_tensor_value_info(o) for o in node.output if o]
    graph = helper.make_graph([node], "fold", [], outs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    try:
        results = ReferenceEvaluator(model).run(None, {})
    except Exception:  # noqa: BLE001  (no reference kernel for this opset: onnxruntime has every version)
        results = _onnxruntime(model)
    if results is None:
        return None
    if any(not isinstance(r, np.ndarray) or r.size > MAX_FOLD_ELEMENTS for r in results):
        return None
    return results


def _onnxruntime(model) -> list | None:
    try:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.log_severity_level = 4
        return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, {})
    except Exception:  # noqa: BLE001  (not evaluable alone: the node stays in the graph)
        return None
