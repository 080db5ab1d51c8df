"""Run a .tflite file's first input -> first output in LiteRT's interpreter (the reference
for files read by nnconvert), resized to the input's batch; and save an IR graph as .tflite
and compare what LiteRT computes from the file with the torch model it came from."""
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


def saved_matches_torch(model, graph, path, x: np.ndarray, rtol: float, atol: float, what: str) -> None:
    """``save(graph, path)``, run the file through nnconvert's LiteRT runner (channels-last
    tensors mapped back to IR layout from the file's metadata) and compare with ``model(x)``."""
    import torch
    from helpers import assert_close

    from convert.exporters.tflite import runner, save

    save(graph, path)
    got = runner(str(path), graph=graph)({graph.inputs[0].name: x})[graph.outputs[0].name]
    with torch.no_grad():
        assert_close(got, model(torch.from_numpy(x)).numpy(), rtol, atol, what)
