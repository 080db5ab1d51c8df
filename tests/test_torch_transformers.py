"""Whole transformers written in plain torch: a BERT-style encoder (token + position
embedding, padding mask, erf-GELU MLP, post-LN, tied output head) and a GPT-style decoder
(causal attention, tanh-GELU, pre-LN, tied head). Positions come from
``cumsum(ones_like(ids)) - 1`` so the sequence length stays dynamic: each model is exported
once with a dynamic batch and sequence length and compared with torch at two batch sizes
and two lengths, in ONNX (opset 17 and 23) and back in torch."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from convert.importers.torch import from_torch  # noqa: E402
from convert.importers.torch.trace import convert_program  # noqa: E402
from convert.passes import optimize  # noqa: E402
from helpers import target_runner  # noqa: E402
from torch_lm_cases import MODELS, build, export, token_ids as _ids  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5


@pytest.fixture(scope="module")
def converted():
    cache: dict = {}

    def get(name: str, tracer: str):
        if (name, tracer) not in cache:
            model = build(name)
            ids = _ids(2, 6)
            if tracer == "export":
                graph = convert_program(export(model, ids))[0]
                lengths = (6, 9)
            else:
                graph, lengths = from_torch(model, (ids,), tracer="auto"), (6,)
            cache[(name, tracer)] = model, optimize(graph), lengths
        return cache[(name, tracer)]
    return get


@pytest.mark.parametrize("tracer", ["export", "auto"])
@pytest.mark.parametrize("target", ["onnx17", "onnx23", "torch"])
@pytest.mark.parametrize("name", list(MODELS))
def test_transformer(name, target, tracer, converted):
    model, graph, lengths = converted(name, tracer)
    assert sum(n.op == "Attention" for n in graph.nodes) == 2
    run = target_runner(graph, target)
    for seq in lengths:
        for batch in (2, 3):
            ids = _ids(batch, seq)
            with torch.no_grad():
                ref = model(ids).numpy()
            np.testing.assert_allclose(run(ids), ref, rtol=RTOL, atol=ATOL, err_msg=f"batch {batch}, length {seq}")


@pytest.mark.parametrize("name", list(MODELS))
def test_transformer_carries_signal(name):
    model = build(name)
    ids = _ids(2, 6)
    with torch.no_grad():
        ref = model(ids)
        tol = ATOL + RTOL * ref.abs().max().item()
        assert (model(_ids(2, 6, seed=7)) - ref).abs().max().item() > 100 * tol
        model.blocks[1].qkv.weight.mul_(1.01)  # a middle weight
        assert (model(ids) - ref).abs().max().item() > 10 * tol
