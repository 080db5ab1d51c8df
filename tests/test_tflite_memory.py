"""Memory of Keras file -> .tflite: the file's weights are read when a layer takes them (not
all at load, beside the IR's transposed copies), and the writer lays each weight out only
when it writes it. Measured with tracemalloc (numpy's buffers are traced) on a .keras and a
legacy .h5 file of four 3x3 convolutions (9.4 MB of weights)."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from helpers import assert_close
from keras_cases import keras

pytest.importorskip("ai_edge_litert")
pytest.importorskip("keras")
MB = 2**20


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    K = keras()
    L = K.layers
    K.utils.set_random_seed(0)
    x = inp = K.Input((6, 5, 256), name="x")
    for i in range(4):
        x = L.Conv2D(256, 3, padding="same", activation="relu", name=f"conv{i}")(x)
    model = K.Model(inp, x)
    rng = np.random.default_rng(0)
    for layer in model.layers[1:]:  # scaled by the fan-in, so activations stay of order 1
        k, b = layer.get_weights()
        layer.set_weights([rng.standard_normal(k.shape).astype(np.float32) * 1.5 / np.sqrt(k[..., 0].size),
                           rng.standard_normal(b.shape).astype(np.float32) * 0.1])
    folder = tmp_path_factory.mktemp("memory")
    model.save(folder / "m.keras")
    model.save(folder / "m.h5")
    weight_bytes = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    xs = np.random.default_rng(0).standard_normal((2, 6, 5, 256)).astype(np.float32)
    from convert.api import load_model, prepare
    from convert.exporters.tflite import save

    save(prepare(load_model(str(folder / "m.keras")).graph)[0], folder / "warm.tflite")  # lazy imports: not weights
    return folder, weight_bytes, xs, np.asarray(model(xs))


def _traced(fn):
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", ["m.keras", "m.h5"])
def test_weights_are_held_once(name, files, tmp_path):
    from convert.api import load_model, prepare
    from convert.exporters.tflite import runner, save

    folder, weight_bytes, xs, ref = files
    loaded, load_peak = _traced(lambda: load_model(str(folder / name)))
    graph, _ = prepare(loaded.graph, in_place=True)  # as convert_file does
    # the IR's copies plus one layer's file arrays (2.4 MB), not the file's arrays and the IR's
    assert load_peak < 1.3 * weight_bytes + 1 * MB, (load_peak / MB, weight_bytes / MB)
    _, save_peak = _traced(lambda: save(graph, tmp_path / "m.tflite"))
    largest = max(w.nbytes for w in graph.weights.values())
    # one weight laid out at a time (2.25 MB) and the flatbuffer without weights (1 MB)
    assert save_peak < largest + 1.5 * MB, (save_peak / MB, largest / MB)
    got = runner(str(tmp_path / "m.tflite"), graph=graph)({graph.inputs[0].name: xs})[graph.outputs[0].name]
    assert_close(got, ref, 1e-4, 1e-4, name)
