"""ONNX -> PyTorch without copies of the weights: the module is built on the meta device;
``to_torch`` assigns the IR's writable arrays (a MatMul weight as its transposed view): by
default those the graph owns, with ``share_weights=True`` borrowed ones too; read-only ones
and, by default, a live torch model's memory are copied; ``share_weights=False`` copies all;
the IR is never written to when nothing trains, and the torch source and ``.pt2`` writers
lay the views out correctly. Outputs against
onnxruntime on the source model."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import convert  # noqa: E402
from convert.exporters import torch as torch_export  # noqa: E402
from convert.ir import safetensors  # noqa: E402
from onnx_mlp_cases import mlp_model, ort_run  # noqa: E402

D_IN, D_MID, D_OUT = 160, 144, 136  # every weight past 64 KiB: read from external data into writable arrays


def _model(scale_mid: float = 1.0):
    return mlp_model(D_IN, D_MID, D_OUT, scale_mid)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("shared") / "mlp.onnx"
    model = _model()
    onnx.save_model(_model(), str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="mlp.onnx.data", size_threshold=0)
    x = np.random.default_rng(1).standard_normal((3, D_IN)).astype(np.float32)
    return str(path), model, x, ort_run(model, x)


def _linears(module):
    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]


@pytest.mark.parametrize("share", [None, True], ids=["default", "share_weights"])
def test_module_shares_the_writable_weights_and_never_writes_them(source, share):
    path, model, x, want = source
    graph = convert.from_onnx(path)
    before = {k: w.copy() for k, w in graph.weights.items()}
    module = torch_export.to_torch(graph, share_weights=share)
    linears = _linears(module)
    assert len(linears) == 3
    ir_ptrs = {w.ctypes.data for w in graph.weights.values() if w.flags.writeable}
    assert {m.weight.data_ptr() for m in linears} <= ir_ptrs and len(ir_ptrs) >= 3  # no copies
    assert not any(t.is_meta for t in module.state_dict().values())
    with torch.no_grad():
        got = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert all(np.array_equal(before[k], w) for k, w in graph.weights.items())
    # the check can fail: a 1% change of a middle weight moves onnxruntime's output past it
    moved = ort_run(_model(scale_mid=1.01), x)
    assert np.abs(moved - got).max() > 1e-4


def test_copying_module_owns_its_weights(source):
    path, _, x, want = source
    graph = convert.from_onnx(path)
    module = torch_export.to_torch(graph, share_weights=False)
    assert not {m.weight.data_ptr() for m in _linears(module)} & {w.ctypes.data for w in graph.weights.values()}
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), want, rtol=1e-5, atol=1e-5)
        before = {k: w.copy() for k, w in graph.weights.items()}
        for p in module.parameters():
            p.mul_(2.0)  # training the module leaves the graph as it was
    assert all(np.array_equal(before[k], w) for k, w in graph.weights.items())


def test_default_copies_a_live_torch_models_memory():
    """From a live module the IR's arrays are that module's tensors: by default the new
    module gets copies, so training it leaves the source model as it was."""
    from convert.importers.torch import from_torch

    torch.manual_seed(0)
    source_model = torch.nn.Sequential(torch.nn.Linear(D_IN, D_MID), torch.nn.Tanh(),
                                       torch.nn.Linear(D_MID, D_OUT)).eval()
    x = torch.randn(3, D_IN)
    graph = from_torch(source_model, (x,))
    source_ptrs = {p.data_ptr() for p in source_model.parameters()}
    assert {w.ctypes.data for w in graph.weights.values()} & source_ptrs  # the graph borrows them
    module = torch_export.to_torch(graph)
    assert not {p.data_ptr() for p in module.parameters()} & source_ptrs
    with torch.no_grad():
        want = source_model(x)
        np.testing.assert_allclose(module(x).numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
        for p in module.parameters():
            p.mul_(2.0)
        assert torch.equal(source_model(x), want)
        assert (module(x) - want).abs().max() > 1e-3  # the copies did change


@pytest.mark.parametrize("share", [None, True], ids=["default", "share_weights"])
def test_read_only_weights_are_copied(source, share):
    _, model, x, want = source
    graph = convert.from_onnx(model)  # in-proto weights: the importer may hand out read-only views
    for k, w in graph.weights.items():
        graph.weights[k] = w.copy()
        graph.weights[k].flags.writeable = False
    module = torch_export.to_torch(graph, share_weights=share)
    ptrs = {w.ctypes.data for w in graph.weights.values()}
    assert not {m.weight.data_ptr() for m in _linears(module)} & ptrs
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), want, rtol=1e-5, atol=1e-5)


def test_torch_source_lays_out_transposed_views_in_chunks(source, tmp_path, monkeypatch):
    path, _, x, want = source
    monkeypatch.setattr(safetensors, "_VIEW_CHUNK_BYTES", 1000)  # several row blocks per weight
    py, _st = torch_export.save(convert.from_onnx(path), tmp_path / "mlp.py", fmt="torch-source")
    spec = importlib.util.spec_from_file_location("shared_weights_generated", py)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with torch.no_grad():
        np.testing.assert_allclose(mod.load_model()(torch.from_numpy(x)).numpy(), want, rtol=1e-5, atol=1e-5)


def test_pt2_of_shared_weights(source, tmp_path):
    path, _, x, want = source
    torch_export.save(convert.from_onnx(path), tmp_path / "mlp.pt2")
    program = torch.export.load(str(tmp_path / "mlp.pt2")).module()
    with torch.no_grad():
        np.testing.assert_allclose(program(torch.from_numpy(x)).numpy(), want, rtol=1e-5, atol=1e-5)
