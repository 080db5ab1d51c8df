"""Attention from PyTorch: F.scaled_dot_product_attention (masks, causal, grouped heads,
3-D), nn.MultiheadAttention and nn.TransformerEncoderLayer/DecoderLayer, through both
tracers, to ONNX (opset 17: MatMul/Softmax; opset 23: the Attention op) and back to
torch (F.scaled_dot_product_attention), compared with torch at two batch sizes (and two
sequence lengths where the sequence axis is exported as dynamic)."""
from __future__ import annotations


import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional

from convert.exporters.torch import to_torch  # noqa: E402
from convert.passes import optimize  # noqa: E402
from helpers import run_onnx  # noqa: E402
from torch_attention_cases import CASES, Case, convert_case as _convert, give_signal as _give_signal  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5

TARGETS = ["onnx17", "onnx23", "torch"]


def _runner(graph, target: str):
    g = optimize(graph)
    if target.startswith("onnx"):
        opset = int(target[4:])
        return lambda xs: run_onnx(g, {v.name: x.numpy() for v, x in zip(g.inputs, xs)}, opset=opset)["output"]
    m = to_torch(g)
    return lambda xs: m(*xs).detach().numpy()


@pytest.fixture(scope="module")
def converted():
    """Each case is traced once per tracer and shared by the three targets."""
    cache: dict = {}

    def get(case: Case, tracer: str):
        if (case.id, tracer) not in cache:
            model = case.build().eval()
            _give_signal(model)
            cache[(case.id, tracer)] = (model,) + _convert(case, model, tracer)
        return cache[(case.id, tracer)]
    return get


@pytest.mark.parametrize("tracer", ["fx", "export"])
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_attention(case, target, tracer, converted):
    model, graph, lengths = converted(case, tracer)
    assert any(n.op == "Attention" for n in graph.nodes), "no Attention node in the IR"
    run = _runner(graph, target)
    for seq in lengths:
        for batch in (2, 3):
            xs = case.make(batch, seq, torch.Generator().manual_seed(batch + 10 * seq))
            with torch.no_grad():
                ref = model(*xs).numpy()
            got = run(xs)
            assert got.shape == ref.shape
            np.testing.assert_allclose(got, ref, rtol=RTOL, atol=ATOL, err_msg=f"batch {batch}, length {seq}")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_attention_cases_carry_signal(case):
    """Another input, and for layers a 1% change to a middle weight, move torch's output
    far past the tolerance: the comparisons above can fail."""
    model = case.build().eval()
    _give_signal(model)
    xs = case.make(2, 5, torch.Generator().manual_seed(0))
    other = case.make(2, 5, torch.Generator().manual_seed(99))
    with torch.no_grad():
        ref = model(*xs)
        tol = ATOL + RTOL * ref.abs().max().item()
        assert (model(*other) - ref).abs().max().item() > 100 * tol
        weights = [p for p in model.parameters() if p.dim() >= 2]
        if weights:
            weights[len(weights) // 2].mul_(1.01)
            assert (model(*xs) - ref).abs().max().item() > 10 * tol
