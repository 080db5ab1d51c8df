"""``.tflite`` files are written with each weight after the flatbuffer (Buffer.offset/size),
streamed one at a time: LiteRT's interpreter runs them against torch, nnconvert reads them
back, and an offset past the end of a truncated file is one clear error."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_close, run_onnx
from litert_run import run_litert

pytest.importorskip("ai_edge_litert")
torch = pytest.importorskip("torch")
RTOL, ATOL = 1e-4, 1e-5


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    import convert
    from convert.exporters.tflite.export import save

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 4, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(4 * 7 * 7, 5))
    net.train()
    with torch.no_grad():  # BatchNorm statistics from a batch
        net(torch.randn(16, 3, 9, 9) * 2 + 0.3)
    net.eval()
    graph = convert.from_torch(net, (torch.randn(2, 3, 9, 9),))
    path = tmp_path_factory.mktemp("stream") / "m.tflite"
    save(graph, path)
    return net, path


def test_weights_stored_after_the_flatbuffer(written):
    from convert.exporters.tflite.schema import schema

    _, path = written
    data = path.read_bytes()
    model = schema().Model.GetRootAs(data, 0)
    stored = [model.Buffers(i) for i in range(model.BuffersLength()) if model.Buffers(i).Offset() > 1]
    assert len(stored) >= 6  # two conv filters and biases, the dense weight and bias
    assert all(b.DataLength() == 0 and b.Offset() % 64 == 0 for b in stored)
    assert max(b.Offset() + b.Size() for b in stored) == len(data)


def test_streamed_file_runs_in_litert_against_torch(written):
    net, path = written
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 3, 9, 9)).astype(np.float32)
    want = net(torch.from_numpy(x)).detach().numpy()
    got = run_litert(path, x)  # the default interface keeps torch's NCHW
    assert_close(got, want, RTOL, ATOL, "litert vs torch")
    other = net(torch.from_numpy(x[::-1].copy())).detach().numpy()
    assert np.abs(other - want).max() > 100 * ATOL


def test_streamed_file_reads_back(written):
    from convert.api import load_model

    _, path = written
    graph = load_model(str(path)).graph
    x = np.random.default_rng(2).standard_normal((2, 3, 9, 9)).astype(np.float32)
    got = next(iter(run_onnx(graph, {graph.inputs[0].name: x}).values()))
    assert_close(got, run_litert(path, x), RTOL, ATOL, "read back vs litert")


def test_offset_past_the_end_is_one_clear_error(written, tmp_path):
    from convert.api import load_model
    from convert.errors import ModelLoadError

    _, path = written
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ModelLoadError, match="past the end of the file"):
        load_model(str(cut))
