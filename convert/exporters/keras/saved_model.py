"""IR -> TensorFlow SavedModel: the Keras export's model, written by ``model.export()``
(TensorFlow is needed for this target only); verified with ``tf.saved_model.load``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import CannotVerifyError
from ...ir.graph import Graph


def save(graph: Graph, path: str | Path, *, fuse_activations: bool = True, **_ignored) -> list[Path]:
    """A SavedModel folder with one ``serve`` endpoint taking the graph's inputs in order."""
    from .export import to_keras

    model = to_keras(graph, fuse_activations)
    model.export(str(path), format="tf_saved_model", verbose=False)
    return [Path(path)]


def runner(path: str, *, device: str = "cpu", graph: Graph | None = None, **_ignored):
    if device != "cpu":
        raise CannotVerifyError(f"--device {device} applies to ONNX targets; SavedModels run on the CPU here")
    if graph is None:
        raise CannotVerifyError("a SavedModel is verified against a source model")
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # kept alive: serve() reads its variables
    ins, outs = [v.name for v in graph.inputs], [v.name for v in graph.outputs]

    def run(inputs: dict) -> dict:
        got = loaded.serve([tf.constant(np.asarray(inputs[n])) for n in ins])  # the Keras model takes a list
        got = list(got.values()) if isinstance(got, dict) else got if isinstance(got, (list, tuple)) else [got]
        return {n: np.asarray(g) for n, g in zip(outs, got)}

    run.providers = [f"TensorFlow {tf.__version__} (tf.saved_model.load)"]  # type: ignore[attr-defined]
    return run
