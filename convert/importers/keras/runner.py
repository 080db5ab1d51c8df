"""Run the original Keras model for verification (imports Keras lazily, on first run)."""
from __future__ import annotations

import contextlib
import shutil
import tempfile
import warnings

import numpy as np

from . import layout as L


@contextlib.contextmanager
def _private_tempdir():
    """Keras extracts a .keras archive into folders of its own under the temp dir and
    does not remove them when loading fails: point ``tempfile`` at a folder that is
    removed in every case."""
    old = tempfile.tempdir
    tmp = tempfile.mkdtemp(prefix="nnconvert-keras-")
    tempfile.tempdir = tmp
    try:
        yield
    finally:
        tempfile.tempdir = old
        shutil.rmtree(tmp, ignore_errors=True)


def make_runners(path: str, graph, walk, io_layout: str):
    """(run, run_layers, keras version) or (None, None, "") when Keras is not importable."""
    import importlib.util

    if importlib.util.find_spec("keras") is None:
        return None, None, ""
    in_perms = [(v.name, len(v.shape or ())) for v in graph.inputs]
    out_perms = [(v.name, len(v.shape or ())) for v in graph.outputs]
    state: dict = {}

    def perm(rank: int) -> tuple:
        return L.channels_first(rank) if io_layout == "nchw" else L.identity(rank)

    def model():
        if "model" not in state:
            from .backend import import_keras

            keras = import_keras()
            with _private_tempdir():
                state["model"] = keras.saving.load_model(path, safe_mode=True, compile=False)
        return state["model"]

    def keras_inputs(inputs):
        xs = [np.transpose(inputs[n], L.inverse(perm(r))) for n, r in in_perms]
        return xs if len(xs) > 1 else xs[0]  # a single-input model wants the bare array

    def call(m, inputs):
        with warnings.catch_warnings():
            # Keras warns when a model saved with a one-element input list gets the bare array; both work.
            warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
            return m(keras_inputs(inputs), training=False)

    def run(inputs):
        outs = call(model(), inputs)
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        return {n: np.transpose(np.asarray(o), perm(r)) for (n, r), o in zip(out_perms, outs)}

    def run_layers(inputs, value_names):
        import keras

        m = model()
        wanted = []
        for path, entries in walk.layer_outputs.items():
            if "/" in path:
                continue  # nested layers are not addressable from the outer model
            for node_index, tensor_index, ref in entries:
                for p, value in ref.values.items():
                    if value in value_names:
                        wanted.append((path, node_index, tensor_index, p, value))
        if not wanted:
            return {}
        # Operation nodes (``x + 3.0``) are not layers: ``get_layer`` cannot find them.
        by_name = {op.name: op for op in getattr(m, "operations", m.layers)}
        tensors = []
        for path, k, t, _, _ in wanted:
            node = by_name[path]._inbound_nodes[k]
            tensors.append(node.output_tensors[t])
        probe = keras.Model(m.inputs, tensors)
        outs = call(probe, inputs)
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        return {value: np.transpose(np.asarray(o), p) for (_, _, _, p, value), o in zip(wanted, outs)}

    from importlib.metadata import PackageNotFoundError, version

    try:
        kv = version("keras")
    except PackageNotFoundError:
        kv = ""
    return run, run_layers, kv
