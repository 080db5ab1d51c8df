"""LiteRT files past 2 GiB of weights: the flatbuffer (32-bit offsets) holds the graph only and
every weight follows it at a 64-bit Buffer offset, so the 2 GiB limit applies to the graph,
not to the weights. Checked without writing gigabytes: the layout computation on sizes past
2 and 4 GiB, the flatbuffer packed with offsets past 4 GiB, and a small model written with
the limit lowered below its weight bytes."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("ai_edge_litert")
nn = torch.nn
GiB = 2**30


def test_weight_offsets_past_4_gib_are_aligned_and_disjoint():
    from convert.exporters.tflite.export import offsets

    sizes = [3 * GiB, 5, 2 * GiB + 7, 64, 1]
    where = offsets(1000, sizes)
    assert where[0] == 1024  # the first weight starts after the flatbuffer, aligned
    assert all(at % 64 == 0 for at in where)
    assert all(at + n <= nxt for at, n, nxt in zip(where, sizes, where[1:]))  # in order, no overlap
    assert where[-1] > 5 * GiB  # past what 32-bit offsets address


@pytest.fixture(scope="module")
def small():
    import convert
    from convert.api import prepare

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 5 * 4, 6)).eval()
    graph, _ = prepare(convert.from_torch(model, (torch.randn(2, 3, 7, 6),)))
    return model, graph


def test_flatbuffer_holds_offsets_past_4_gib(small):
    """Packed with every weight placed past 4 GiB, the flatbuffer keeps its size (the
    offsets are fixed-width fields) and reads those offsets back."""
    from convert.exporters.tflite.export import _serialize, _size, build, offsets

    _, graph = small
    ctx, problems = build(graph)
    assert problems == []
    blobs = [b for b in ctx.buffers if _size(b)]
    sizes = [_size(b) for b in blobs]
    for b in blobs:
        b.data, b.offset, b.size = None, 2**40, 1
    head = len(_serialize(ctx, inline=False))
    where = offsets(head + 4 * GiB, sizes)  # as if 4 GiB of other weights came first
    for b, at, n in zip(blobs, where, sizes):
        b.offset, b.size = at, n
    data = bytes(_serialize(ctx, inline=False))
    assert len(data) == head
    model = ctx.S.Model.GetRootAs(data, 0)
    stored = [(model.Buffers(i).Offset(), model.Buffers(i).Size()) for i in range(model.BuffersLength())]
    assert [s for s in stored if s[1]][:len(where)] == list(zip(where, sizes))


def test_weights_past_the_limit_are_written_after_the_flatbuffer(small, tmp_path, monkeypatch):
    """With the limit below this model's weight bytes (as a > 2 GiB model is above it),
    save() writes a file that LiteRT runs and matches torch; the in-memory flatbuffer of
    to_tflite, which holds the weights inside, is refused with a message naming save()."""
    from litert_run import saved_matches_torch

    from convert.errors import UsageError
    from convert.exporters.tflite import export, to_tflite, unsupported

    model, graph = small
    limit = 4096  # above the graph's flatbuffer (about 1.7 kB), below its weights
    assert export.build(graph)[0].weight_bytes > limit
    monkeypatch.setattr(export, "MAX_BYTES", limit)
    assert unsupported(graph) == []
    x = np.random.default_rng(1).standard_normal((3, 3, 7, 6)).astype(np.float32)
    saved_matches_torch(model, graph, tmp_path / "m.tflite", x, 1e-4, 1e-5, "weights after the flatbuffer")
    with pytest.raises(UsageError, match="save"):
        to_tflite(graph)
