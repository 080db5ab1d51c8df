"""torchvision's transformers (vit_b_16 at 32 px, swin_t at 64, maxvit_t at 224) from a
``.pt2`` exported with a dynamic batch to ``.tflite`` (fp32 and fp16, run in LiteRT's
interpreter) and to ``.keras`` (loaded back in safe mode), each at batch 1 and 2 against
torch with the corpora's bounds (``bench/corpus_tflite.py``, ``bench/corpus_keras.py``).
Each model is built and imported once. About 9 minutes on a 2-core machine, so it runs
only with NNCONVERT_FULL_TORCHVISION_CORPUS=1.

The TRANSPOSE counts are the heads' permutes, all inside attention (see README)."""
from __future__ import annotations

import os
import sys

import pytest

from conftest import REPO

torch = pytest.importorskip("torch")
pytest.importorskip("ai_edge_litert")
zoo = pytest.importorskip("torchvision_zoo")
zoo.skip_without_torchvision()
sys.path.insert(0, str(REPO / "bench"))

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    os.environ.get("NNCONVERT_FULL_TORCHVISION_CORPUS") != "1",
    reason="not in CI's time budget; set NNCONVERT_FULL_TORCHVISION_CORPUS=1 to run it")]

MODELS = ("vit_b_16", "swin_t", "maxvit_t")
# TRANSPOSE per file: the head split/merge permutes LiteRT must move (see the README's table)
TRANSPOSES = {"vit_b_16": 88, "swin_t": 68, "maxvit_t": 201}


class Built:
    """One model (and its IR) at a time: maxvit_t's weights alone are ~120 MB."""

    name: str | None = None
    model = graph = None


def _built(name: str, tmp_path_factory):
    from corpus_tflite import imported_graph

    if Built.name != name:
        Built.name = Built.model = Built.graph = None
        model = zoo.build_model(name)
        size = zoo.MODELS[name][1]
        zoo.assert_signal(model, _x(2, size, 0), _x(2, size, 7))
        Built.graph = imported_graph(name, model, tmp_path_factory.mktemp(name), pt2=True)
        Built.model, Built.name = model, name
    return Built.model, Built.graph


def _x(batch: int, size: int, seed: int):
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("target", ["tflite", "keras"])
@pytest.mark.parametrize("name", MODELS)
def test_transformer_to_target(name, target, tmp_path_factory, tmp_path):
    model, graph = _built(name, tmp_path_factory)
    assert graph.inputs[0].shape[0] == "batch"
    if target == "keras":
        from corpus_keras import TOL, one as keras_one

        row = keras_one(name, tmp_path, model, graph=graph)
        assert "error" not in row, row
        print(f"{name} keras: error {row['err']:.2e}, {row['seconds']:.1f} s")
        assert row["ok"] and row["err"] <= TOL, row
        return
    from corpus_tflite import one

    rows = one(name, tmp_path, model, graph=graph)
    assert [r["mode"] for r in rows] == ["fp32", "fp16"], rows
    for r in rows:
        assert "error" not in r, r
        print(f"{name} {r['mode']}: error {r['err']:.2e} (bound {r['bound']:.2e}), {r['transposes']} TRANSPOSE, "
              f"{r['ops']} ops, {r['mb']:.1f} MB, {r['seconds']:.1f} s")
        assert r["ok"] and r["transposes"] == TRANSPOSES[name], r
