"""The LiteRT runner's metadata read: only the flatbuffer tables on the way to nnconvert's
layout entry and that entry's bytes are read (never the weights), the result equals the
full flatbuffer parse's, and hostile offsets and lengths are errors, not reads."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("ai_edge_litert")


@pytest.fixture(scope="module")
def built():
    import convert
    from convert.api import prepare

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3), torch.nn.ReLU(), torch.nn.Conv2d(64, 64, 3)).eval()
    g, _ = prepare(convert.from_torch(model, (torch.randn(1, 3, 8, 8),)))
    return model, g


@pytest.fixture(scope="module")
def graph(built):
    return built[1]


def _full_parse(data: bytes) -> dict:
    from convert.exporters.tflite.runner import METADATA
    from convert.exporters.tflite.schema import schema

    model = schema().Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        m = model.Metadata(i)
        if m.Name() == METADATA.encode():
            return json.loads(model.Buffers(m.Buffer()).DataAsNumpy().tobytes())
    raise AssertionError("no metadata")


@pytest.mark.parametrize("streamed", [False, True], ids=["inline", "weights_after"])
def test_metadata_matches_full_parse_and_reads_no_weights(graph, tmp_path, monkeypatch, streamed):
    from convert.exporters.tflite import metadata, save, to_tflite
    from convert.exporters.tflite.runner import stored_layouts

    path = tmp_path / "m.tflite"
    if streamed:
        save(graph, path)
    else:
        path.write_bytes(to_tflite(graph)[0])
    read = []
    real = metadata._File.bytes
    monkeypatch.setattr(metadata._File, "bytes", lambda self, at, n: read.append(n) or real(self, at, n))
    meta = stored_layouts(path)
    assert meta == _full_parse(path.read_bytes())
    assert meta["inputs"] == [graph.inputs[0].name] and meta["tensors"]
    raw = len(json.dumps(meta, sort_keys=True))
    assert path.stat().st_size > 100_000  # the weights (64 x 64 x 3 x 3 floats)
    assert sum(read) < raw + 1024, f"{sum(read)} bytes read for {raw} bytes of metadata"


def _json_at(data: bytes) -> int:
    return data.index(b'{"fp32_weight_bytes"')


@pytest.mark.parametrize("how", ["root_past_end", "length_past_end", "truncated"])
def test_hostile_offsets_are_errors(graph, tmp_path, how):
    from convert.errors import ModelLoadError
    from convert.exporters.tflite import to_tflite
    from convert.exporters.tflite.runner import stored_layouts

    data = bytearray(to_tflite(graph)[0])
    if how == "root_past_end":
        data[0:4] = struct.pack("<I", len(data) + 16)
    elif how == "length_past_end":  # the metadata's byte vector claims 2 GiB
        at = _json_at(bytes(data)) - 4
        data[at:at + 4] = struct.pack("<I", 2**31)
    else:
        data = data[:_json_at(bytes(data)) + 8]
    path = tmp_path / "bad.tflite"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="past the end"):
        stored_layouts(path)


def test_runner_uses_it(built, tmp_path):
    """The runner still maps channels-last tensors back to IR layout from the metadata."""
    from litert_run import saved_matches_torch

    model, graph = built
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    saved_matches_torch(model, graph, tmp_path / "m.tflite", x, 1e-4, 1e-4, "conv stack")
