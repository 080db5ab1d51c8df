"""The ``.pt2`` writer that streams each weight from its storage into the archive.

On the torch versions with the newer archive layout it must write exactly the bytes
``torch.export.save`` writes (same records, same order, same metadata), without passing
any weight through a Python ``bytes`` object; on every version the file loads with plain
``torch.export.load`` and computes what the source framework computes. Sources: an ONNX
MLP (MatMul weights are transposed views of the IR's arrays, so storages are written whole
with strides) and a torch model with calibrated BatchNorm statistics and an int64 buffer."""
from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import convert  # noqa: E402
from convert.exporters import torch as torch_export  # noqa: E402
from convert.exporters.torch.export import _module, export_program, generate  # noqa: E402
from convert.exporters.torch.pt2_write import _archive_api, save_program  # noqa: E402
from convert.importers.torch import from_torch  # noqa: E402
from onnx_mlp_cases import mlp_model, ort_run  # noqa: E402

D_IN, D_MID, D_OUT = 40, 36, 28
STREAMED = _archive_api() is not None  # torch 2.6/2.7: the older layout, written by torch.export.save


def _onnx_model(scale_mid: float = 1.0):
    return mlp_model(D_IN, D_MID, D_OUT, scale_mid)


def _torch_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(D_IN, D_MID), torch.nn.BatchNorm1d(D_MID), torch.nn.ReLU(),
                                torch.nn.Linear(D_MID, D_OUT))
    model.train()
    with torch.no_grad():
        model(torch.randn(16, D_IN) * 2 + 0.5)  # running statistics from a batch, not 0 and 1
    return model.eval()


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """name -> (graph, reference function of a numpy input, the same with a middle weight 1% off)."""
    folder = tmp_path_factory.mktemp("sources")
    path = folder / "mlp.onnx"
    onnx.save_model(_onnx_model(), str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="mlp.onnx.data", size_threshold=0)
    model = _torch_model()
    moved = _torch_model()
    with torch.no_grad():
        moved[1].weight.mul_(1.01)  # the BatchNorm scale between the two layers

    def run(m):
        def f(x):
            with torch.no_grad():
                return m(torch.from_numpy(x)).numpy()
        return f

    return {"onnx": (convert.from_onnx(str(path)), lambda x: ort_run(_onnx_model(), x),
                     lambda x: ort_run(_onnx_model(scale_mid=1.01), x)),
            "torch": (from_torch(model, (torch.randn(3, D_IN),)), run(model), run(moved))}


def _program(graph):
    return export_program(graph, _module(generate(graph), share="all"))


@pytest.mark.skipif(not STREAMED, reason="this torch writes the older .pt2 layout (torch.export.save)")
@pytest.mark.parametrize("source", ["onnx", "torch"])
def test_archive_is_byte_identical_to_torch_export_save(sources, source, tmp_path):
    program = _program(sources[source][0])
    (tmp_path / "torch").mkdir()
    (tmp_path / "streamed").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note on transposed views
        torch.export.save(program, str(tmp_path / "torch" / "m.pt2"))
    save_program(program, tmp_path / "streamed" / "m.pt2")
    want = (tmp_path / "torch" / "m.pt2").read_bytes()
    got = (tmp_path / "streamed" / "m.pt2").read_bytes()
    assert len(program.state_dict) >= 4 and got == want


@pytest.mark.parametrize("source", ["onnx", "torch"])
def test_written_pt2_matches_the_source(sources, source, tmp_path):
    graph, reference, moved_reference = sources[source]
    (path,) = torch_export.save(graph, tmp_path / "m.pt2")
    module = torch.export.load(str(path)).module()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, D_IN)).astype(np.float32)
    other = rng.standard_normal((3, D_IN)).astype(np.float32)
    tol = 1e-5
    with torch.no_grad():
        got, got_other = (module(torch.from_numpy(v)).numpy() for v in (x, other))
    want = reference(x)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(got_other, reference(other), rtol=tol, atol=tol)
    # the check can fail: another input and a 1% change of a middle weight move the output
    assert np.abs(got_other - want).max() > 100 * tol
    assert np.abs(moved_reference(x) - got).max() > 10 * tol


WIDE = (8192, 4096)  # one 128 MiB weight: a copy of it stands far out of the noise


@pytest.fixture(scope="module")
def wide_program():
    torch.manual_seed(0)
    with torch.no_grad():
        layer = torch.nn.Linear(WIDE[1], WIDE[0])
        layer.weight.normal_(0, WIDE[1] ** -0.5)
        model = torch.nn.Sequential(layer, torch.nn.ReLU(), torch.nn.Linear(WIDE[0], 16)).eval()
    return torch.export.export(model, (torch.randn(2, WIDE[1]),), strict=False), WIDE[0] * WIDE[1] * 4


def _written(write, path) -> None:
    write(path)
    assert path.stat().st_size > WIDE[0] * WIDE[1] * 4
    path.unlink()  # 128 MiB of test output need not wait for the end of the session


def _torch_save(program, path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(program, str(path))


@pytest.mark.skipif(not STREAMED, reason="this torch writes the older .pt2 layout (torch.export.save)")
def test_no_weight_passes_through_python_bytes(wide_program, tmp_path):
    """tracemalloc sees every Python ``bytes`` object: torch.export.save's per-storage copy
    shows as a peak past the largest weight, the streamed writer's stays far below it."""
    program, largest = wide_program

    def traced_peak(write) -> int:
        tracemalloc.start()
        try:
            _written(lambda p: write(program, p), tmp_path / "m.pt2")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert traced_peak(_torch_save) > largest, "the measurement must see torch.export.save's copy"
    assert traced_peak(save_program) < largest // 64


def _rss_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))


@pytest.mark.skipif(not STREAMED, reason="this torch writes the older .pt2 layout (torch.export.save)")
def test_peak_rss_of_the_write(wide_program, tmp_path):
    """The whole process's peak RSS (reset through /proc/self/clear_refs) while the archive
    is written: C++ copies count too, not only Python objects."""
    program, largest = wide_program

    def grown(write) -> int:
        before = _rss_kib("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # VmHWM := VmRSS
        except OSError:
            pytest.skip("this kernel does not let a process reset its peak RSS")
        _written(lambda p: write(program, p), tmp_path / "m.pt2")
        return (_rss_kib("VmHWM") - before) * 1024

    assert grown(_torch_save) > largest, "the measurement must see torch.export.save's copies"
    assert grown(save_program) < largest // 4
