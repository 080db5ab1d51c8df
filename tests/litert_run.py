"""Run a .tflite file's first input -> first output in LiteRT's interpreter (the reference
for files read by nnconvert), resized to the input's batch."""
from __future__ import annotations

import numpy as np


def run_litert(path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    inp = interp.get_input_details()[0]["index"]
    interp.resize_tensor_input(inp, list(x.shape))
    interp.allocate_tensors()
    interp.set_tensor(inp, x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])
