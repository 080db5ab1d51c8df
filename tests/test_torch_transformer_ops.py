"""The ops transformer blocks are built with, beyond attention itself: einsum, roll
(shifted windows), a relative-position table read through a fixed index buffer,
swapaxes, masked_fill and where, comparisons, cumsum positions. Each small module is
converted through torch.export and through tracer "auto", and compared with torch at two
batch sizes in onnxruntime and in the generated torch module."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from convert.exporters.torch import to_torch  # noqa: E402
from convert.importers.torch import from_torch  # noqa: E402
from convert.passes import optimize  # noqa: E402
from helpers import run_onnx  # noqa: E402


class RelBias(nn.Module):
    """Swin/MaxViT-style: a learned (2W-1)^2 table indexed by a fixed buffer, added to scores."""

    def __init__(self, w: int = 3):
        super().__init__()
        g = torch.Generator().manual_seed(4)
        self.table = nn.Parameter(torch.randn((2 * w - 1) ** 2, 2, generator=g))
        coords = torch.stack(torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (w - 1)
        self.register_buffer("index", rel[..., 0] * (2 * w - 1) + rel[..., 1])

    def forward(self, x):  # x: (B, 2, W*W, W*W)
        return x + self.table[self.index].permute(2, 0, 1)


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


CASES = {
    "einsum_bhqd_bhkd": (lambda: Fn(lambda a, b: torch.einsum("bhqd,bhkd->bhqk", a, b)), [(2, 5, 3), (2, 7, 3)]),
    "einsum_matvec": (lambda: Fn(lambda a: torch.einsum("bij,j->bi", a, torch.arange(4.0) - 1.5)), [(3, 4)]),
    "roll_two_axes": (lambda: Fn(lambda x: torch.roll(x, shifts=(-2, 1), dims=(1, 2)) * 2), [(5, 6, 3)]),
    "relative_position_bias": (RelBias, [(2, 9, 9)]),
    "swapaxes": (lambda: Fn(lambda x: x.swapaxes(1, 2) + 1), [(3, 4)]),
    "masked_fill_le_ne": (lambda: Fn(lambda x: x.masked_fill((x <= 0.1) & (x != 0.5), -3.0)), [(4, 5)]),
    "where_ge_gt": (lambda: Fn(lambda x, y: torch.where((x >= y) | (y > 1.0), x, y * 2)), [(3, 5), (3, 5)]),
    "cumsum_positions": (lambda: Fn(lambda x: torch.cumsum(torch.ones_like(x), 1) * x), [(6,)]),
}
TARGETS = ["onnx17", "torch"]


def _inputs(shapes, batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed + batch)
    return [torch.randn(batch, *s, generator=g) for s in shapes]


@pytest.fixture(scope="module")
def converted():
    cache: dict = {}

    def get(name: str, tracer: str):
        if (name, tracer) not in cache:
            build, shapes = CASES[name]
            model = build().eval()
            cache[(name, tracer)] = model, optimize(from_torch(model, tuple(_inputs(shapes, 2)), tracer=tracer))
        return cache[(name, tracer)]
    return get


@pytest.mark.parametrize("tracer", ["export", "auto"])
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", list(CASES))
def test_transformer_op(name, target, tracer, converted):
    model, graph = converted(name, tracer)
    run = (lambda xs: to_torch(graph)(*xs).detach().numpy()) if target == "torch" else \
        (lambda xs: run_onnx(graph, {v.name: x.numpy() for v, x in zip(graph.inputs, xs)})["output"])
    for batch in (2, 3):
        xs = _inputs(CASES[name][1], batch)
        with torch.no_grad():
            ref = model(*xs).numpy()
        other = model(*_inputs(CASES[name][1], batch, seed=9)).detach().numpy()
        assert np.abs(other - ref).max() > 1e-2, "another input must move the output"
        np.testing.assert_allclose(run(xs), ref, rtol=1e-5, atol=1e-5, err_msg=f"batch {batch}")
