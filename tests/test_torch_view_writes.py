"""Writes into slices of a fresh constant (``m = x.new_zeros(...); m[a:b, c:] = k``, as
torchvision's Swin builds its shifted-window mask): folded at conversion, with a view made
before the writes and read after them; a computed value written so is refused by node.
Exported with a dynamic batch, read back from a .pt2 file, compared with torch in ONNX
and torch at two batch sizes."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from convert.errors import UnsupportedError  # noqa: E402
from helpers import target_runner  # noqa: E402

RTOL, ATOL = 1e-5, 1e-5


class SliceWrites(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(6, 6)

    def forward(self, x):  # x: (B, 4, 6)
        m = x.new_zeros((4, 6))
        top = m[:2]  # a view taken before the writes and read after them
        m[1:3, 2:] = 2.0
        m[-1] = -1.5
        m[:, ::2][0] = 0.5  # a strided view, then a row of it
        m[0, 1:4].zero_()
        m[2, 1] = 7.0  # down to one element
        count = 0
        for h in ((0, -3), (-3, -1), (-1, None)):  # Swin's pattern: a constant tensor per region
            m[h[0]:h[1], :2] = torch.tensor(count + 3.0)
            count += 1
        return self.lin(x) * (m + 1) + top.sum(0)


class ComputedWrite(nn.Module):
    def forward(self, x):
        m = x.new_zeros((4, 6))
        m[1:3] = x.mean()
        return x * m


def _x(batch: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 4, 6, generator=torch.Generator().manual_seed(seed + batch))


def _save(model, tmp_path) -> str:
    with torch.no_grad():
        ep = torch.export.export(model, (_x(2),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    path = tmp_path / "m.pt2"
    torch.export.save(ep, str(path))
    return str(path)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from convert.api import load_model

    model = SliceWrites().eval()
    return model, load_model(_save(model, tmp_path_factory.mktemp("writes"))).graph


@pytest.mark.parametrize("target", ["onnx17", "torch"])
def test_slice_writes_fold_and_match(converted, target):
    model, graph = converted
    assert not any(n.op == "ScatterND" for n in graph.nodes)  # the mask is a constant
    run = target_runner(graph, target)
    for batch in (2, 3):
        x = _x(batch)
        with torch.no_grad():
            ref = model(x).numpy()
            got = run(x)
        np.testing.assert_allclose(got, ref, rtol=RTOL, atol=ATOL, err_msg=f"batch {batch}")


def test_slice_writes_carry_signal():
    model = SliceWrites().eval()
    x = _x(2)
    with torch.no_grad():
        ref = model(x)
        tol = ATOL + RTOL * ref.abs().max().item()
        assert (model(_x(2, seed=7)) - ref).abs().max().item() > 100 * tol
        model.lin.weight.mul_(1.01)
        assert (model(x) - ref).abs().max().item() > 10 * tol
    # the writes matter: the mask is far from the zeros it starts as
    with torch.no_grad():
        plain = model.lin(x) + 0.0
    assert (model(x) - plain).abs().max().item() > 100 * tol


def test_computed_write_into_slice_is_refused_by_node(tmp_path):
    from convert.api import load_model

    with pytest.raises(UnsupportedError, match=r"fill_"):
        load_model(_save(ComputedWrite().eval(), tmp_path))
