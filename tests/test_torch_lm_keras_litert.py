"""The plain-torch BERT-style encoder and GPT-style decoder (``tests/torch_lm_cases.py``),
exported with a dynamic batch and sequence length, to ``.keras`` and ``.tflite``: one file
of each keeps both dynamic and matches torch at two batches and two lengths."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

from convert.importers.torch.trace import convert_program  # noqa: E402
from convert.passes import optimize  # noqa: E402
from torch_lm_cases import build, export, token_ids  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5  # as the ONNX and torch targets of these models


@pytest.fixture(scope="module")
def lm():
    cache: dict = {}

    def get(name: str):
        if name not in cache:
            model = build(name)
            cache[name] = model, optimize(convert_program(export(model, token_ids(2, 6)))[0])
        return cache[name]
    return get


def _matches_at_two_batches_and_lengths(model, run) -> None:
    """``run`` (token ids -> logits) against torch at batch 2, 3 and length 6, 9; another
    input must move torch's logits far past the tolerance."""
    for seq in (6, 9):
        for batch in (2, 3):
            ids = token_ids(batch, seq)
            with torch.no_grad():
                ref = model(ids).numpy()
                other = model(token_ids(batch, seq, seed=7)).numpy()
            assert np.abs(other - ref).max() > 100 * (ATOL + RTOL * np.abs(ref).max())  # the input matters
            np.testing.assert_allclose(run(ids.numpy()), ref, rtol=RTOL, atol=ATOL, err_msg=f"batch {batch}, length {seq}")


@pytest.mark.parametrize("name", ["bert", "gpt"])
def test_lm_to_keras_keeps_batch_and_length(name, lm, tmp_path):
    """GPT's causal attention: query and key lengths are one symbolic size in the IR."""
    from convert.exporters.keras import export as keras_export

    model, graph = lm(name)
    path = tmp_path / f"{name}.keras"
    keras_export.save(graph, path)
    loaded = keras.saving.load_model(str(path), safe_mode=True)
    _matches_at_two_batches_and_lengths(model, lambda ids: keras.ops.convert_to_numpy(loaded(ids)))


@pytest.mark.parametrize("name", ["bert", "gpt"])
def test_lm_to_tflite_keeps_batch_and_length(name, lm, tmp_path):
    """One .tflite file run at two batches and two lengths: the positions as CUMSUM, the
    token lookup as a GATHER of computed ids, reshapes sized from their input when the
    model runs, GPT's causal mask from RANGEs over the run-time lengths."""
    pytest.importorskip("ai_edge_litert")
    from convert.exporters.tflite import save
    from convert.exporters.tflite.runner import LiteRTModel

    model, graph = lm(name)
    path = tmp_path / f"{name}.tflite"
    save(graph, path)
    lite = LiteRTModel(path, ([v.name for v in graph.inputs], [v.name for v in graph.outputs]))
    _matches_at_two_batches_and_lengths(model, lambda ids: lite.run({graph.inputs[0].name: ids})[graph.outputs[0].name])
