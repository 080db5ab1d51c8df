"""Reshapes in a channels-last LiteRT graph: a channel shuffle costs one TRANSPOSE (not one
into IR order and one back per reshape), and a layout change that moves only unit axes
(a 1x1 feature map) is a RESHAPE. Files run in LiteRT against torch at two batch sizes."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_close

torch = pytest.importorskip("torch")
pytest.importorskip("ai_edge_litert")
nn = torch.nn


class Shuffle(nn.Module):
    """conv -> channel shuffle (ShuffleNet's view / transpose / view) -> conv."""

    def __init__(self, size: int):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 5, 1)
        self.size = size

    def forward(self, x):
        y = torch.relu(self.a(x))
        n, c, h, w = y.shape
        y = y.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
        return self.b(y)


def _check(model, shape, tmp_path) -> int:
    import convert
    from convert.api import prepare
    from convert.exporters.tflite import runner, to_tflite

    torch.manual_seed(0)
    graph, _ = prepare(convert.from_torch(model.eval(), (torch.randn(*shape),)))
    data, ctx = to_tflite(graph, io_layout="nhwc")
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    run = runner(str(path), graph=graph)
    outs = []
    for batch in (2, 3):
        x = torch.randn(batch, *shape[1:])
        with torch.no_grad():
            ref = model(x).numpy()
        got = run({graph.inputs[0].name: x.numpy()})[graph.outputs[0].name]
        assert_close(got, ref, 1e-4, 1e-5, type(model).__name__)
        outs.append(got[:1])
    assert np.abs(outs[0] - outs[1]).max() > 1e-2  # another input moves the output
    return ctx.transposes


@pytest.mark.parametrize("size", [5, 1], ids=["5x5", "1x1"])
def test_channel_shuffle_costs_one_transpose(size, tmp_path):
    torch.manual_seed(1)
    assert _check(Shuffle(size), (2, 3, size, size), tmp_path) == 1


def test_axis_groups():
    from convert.exporters.tflite.reshape_layout import axis_groups, grouped_layout

    assert axis_groups((None, 8, 3, 3), (None, 2, 4, 3, 3)) == [([0], [0]), ([1], [1, 2]), ([2], [3]), ([3], [4])]
    assert axis_groups((2, 8, 1, 1), (2, 8)) == [([0], [0]), ([1, 2, 3], [1])]
    assert axis_groups((None, 6), (2, None)) is None  # the dynamic axis does not stay
    assert axis_groups((4, 6), (3, 8)) == [([0, 1], [0, 1])]  # no boundary inside: one run
    # NHWC: the split keeps channels last; after the shuffle's transpose the merge's run
    # (C/g, g) is out of order, so the input is read with it in order (one TRANSPOSE)
    assert grouped_layout((0, 2, 3, 1), (None, 8, 3, 3), (None, 2, 4, 3, 3)) == ((0, 2, 3, 1), (0, 3, 4, 1, 2))
    assert grouped_layout((0, 3, 4, 2, 1), (None, 4, 2, 3, 3), (None, 8, 3, 3)) == ((0, 3, 4, 1, 2), (0, 2, 3, 1))
    assert grouped_layout((0, 2, 1), (2, 3, 4), (6, 4)) is None  # axes 0 and 1 apart in storage
