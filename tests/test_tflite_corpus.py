"""A cheap subset of the torchvision corpus through .tflite (``bench/corpus_tflite.py`` runs
all of it): signal-carrying weights, channels-last interface, fp32 and fp16 files run in
LiteRT's interpreter at batch 1 and 2 against torch, zero TRANSPOSE inside."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from conftest import REPO

torch = pytest.importorskip("torch")
pytest.importorskip("ai_edge_litert")
pytestmark = pytest.mark.slow
sys.path.insert(0, str(REPO / "bench"))

SUBSET = ("mobilenet_v2", "resnet18")  # mobilenet_v3_small: logits barely move with the input


@pytest.mark.parametrize("name", SUBSET)
def test_corpus_model_through_tflite(name, tmp_path):
    import torchvision_zoo as zoo

    from corpus_tflite import TOL, one

    size = zoo.MODELS[name][1]
    model = zoo.build_model(name)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # another input moves the logits far past the fp32 bound
        a, b = model(x).numpy(), model(x.flip(0)).numpy()
    assert np.abs(a - b).max() > 100 * TOL["fp32"] * max(1.0, float(np.abs(a).max())), name
    rows = one(name, tmp_path, model)
    assert [r["mode"] for r in rows] == ["fp32", "fp16"], rows
    for r in rows:
        assert "error" not in r, r
        print(f"{name} {r['mode']}: error {r['err']:.2e} (bound {r['bound']:.2e}), {r['ops']} ops, "
              f"{r['mb']:.1f} MB, {r['seconds']:.1f} s")
        assert r["ok"] and r["transposes"] == 0, r


KERAS_SUBSET = ("MobileNetV2",)  # the cheapest of the keras.applications set (bench/corpus_tflite.py --keras)


@pytest.mark.parametrize("name", KERAS_SUBSET)
def test_keras_application_through_tflite(name, tmp_path):
    """Built with logits and trained-like weights, saved as .keras, converted from the file;
    fp32 and fp16 files against Keras, zero TRANSPOSE inside."""
    pytest.importorskip("keras")
    from corpus_tflite import TOL, one_keras

    rows = one_keras(name, tmp_path)
    assert [r["mode"] for r in rows] == ["fp32", "fp16"], rows
    for r in rows:
        assert "error" not in r, r
        print(f"{name} {r['mode']}: error {r['err']:.2e} (bound {r['bound']:.2e}), {r['ops']} ops, {r['mb']:.1f} MB")
        assert r["ok"] and r["transposes"] == 0, r
        # another input moves the logits far past both bounds
        assert r["moves"] > max(100 * TOL["fp32"], 5 * r["bound"]), r
