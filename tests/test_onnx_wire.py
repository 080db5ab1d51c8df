"""The .onnx writer that needs no onnx import (convert/exporters/onnx/wire.py, stream.py):
its bytes equal onnx's own serialisation of the model ``to_onnx`` builds, the checker and
onnxruntime accept them, external data is laid out as before, and a .pt2 converts with
onnx, protobuf and torch all unimportable."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from convert.exporters.onnx import export, save_onnx, stream, to_onnx, wire
from ir_graphs import cnn_graph, small_graph

ROOT = Path(__file__).resolve().parents[1]
RTOL = ATOL = 1e-4


def _graphs():
    cnn = cnn_graph()
    cnn.outputs[0].shape = ("batch", 5)
    small = small_graph()
    small.outputs[0].shape = ("batch", 4, 8, 8)
    small.outputs[1].shape = ("batch", 5, 2)
    small.metadata["note"] = "ünïcode, \"quotes\""
    return {"cnn": cnn, "small": small}


def _session(path_or_bytes):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(path_or_bytes, so, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("opset", [13, 17, 21])
@pytest.mark.parametrize("name", ["cnn", "small"])
def test_file_equals_onnx_serialisation(name, opset, tmp_path):
    graph = _graphs()[name]
    path = tmp_path / "m.onnx"
    assert save_onnx(graph, path, opset, check=True) == [path]  # check: onnx's full checker
    want = to_onnx(graph, opset).SerializeToString(deterministic=True)
    assert path.read_bytes() == want
    model = onnx.load(str(path))
    assert model.opset_import[0].version == opset
    assert model.ir_version == export.IR_VERSIONS[opset]
    feeds = {"x": np.random.default_rng(0).standard_normal((2, 3, 6 if name == "cnn" else 8,
                                                            6 if name == "cnn" else 8)).astype(np.float32)}
    if name == "small":
        feeds["ids"] = np.array([[0, 6, 2, 3, 1], [5, 4, 0, 0, 2]], np.int64)
    outs = _session(str(path)).run(None, feeds)
    assert all(np.isfinite(o).all() and o.size for o in outs)


def test_ir_versions_match_onnx_table():
    first = {}
    for row in helper.VERSION_TABLE:
        first.setdefault(row[2], row[1])
    assert export.IR_VERSIONS == first


ATTRS = {
    "i": 3, "neg": -7, "big": 2**40, "flag": True, "np_int": np.int64(-2), "f": 0.1, "nan": float("nan"),
    "inf": float("-inf"), "tiny": 1e-45, "np_f": np.float32(2.5), "s": "ünï\n\"", "b": b"\x00\xff",
    "ints": [1, -1, 2**33], "floats": [0.5, 1, -2.25], "strs": ["a", b"b"], "arr": np.array([3, 4], np.int32),
    "farr": np.array([0.25], np.float32), "tup": (1, 2),
}


@pytest.mark.parametrize("key", list(ATTRS))
def test_node_attribute_kinds(key):
    args = ("Op", ["x", "", "w"], ["y"], "n/1", "")
    want = helper.make_node(*args[:3], name=args[3], domain=args[4], **{key: ATTRS[key]})
    assert wire.node(*args, {key: ATTRS[key], "skipped": None}) == want.SerializeToString()


def test_node_without_name_or_domain():
    want = helper.make_node("Relu", ["x"], ["y"], name="", domain=None, alpha=1)
    assert wire.node("Relu", ["x"], ["y"], "", None, {"alpha": 1}) == want.SerializeToString()


@pytest.mark.parametrize("value", [[], np.zeros((2, 2)), {"a": 1}, 2**63, -2**63 - 1, 1e39, [1, "a"], range(3),
                                   np.bool_(True), "\ud800"])
def test_values_left_to_onnx(value):
    with pytest.raises(wire.NeedsOnnx):
        wire.attribute("a", value)


@pytest.mark.parametrize("shape", [None, [], [1, "batch", None, 2**40]])
def test_value_info(shape):
    want = helper.make_tensor_value_info("v", 10, shape)
    assert wire.value_info("v", 10, shape) == want.SerializeToString()


TENSORS = [np.float32(1.5), np.zeros(0, np.float32), np.arange(12, dtype=np.int64).reshape(3, 4) - 5,
           np.array([True, False]), np.linspace(-1, 1, 7).astype(np.float16), np.arange(5, dtype=np.uint8),
           np.arange(6, dtype=np.int8), np.arange(6, dtype=np.int16), np.arange(6, dtype=np.int32),
           np.linspace(0, 1, 4), np.random.default_rng(0).standard_normal((768, 1024)).astype(np.float32)]


@pytest.mark.parametrize("arr", TENSORS, ids=[f"{a.dtype}{a.shape}" for a in TENSORS])
@pytest.mark.parametrize("name", ["t", ""])
def test_tensor_with_raw_data(arr, name):
    arr = np.asarray(arr)
    encoded = wire.tensor_head(name, arr) + bytes(stream.raw_bytes(arr))
    assert encoded == numpy_helper.from_array(arr, name).SerializeToString()


def test_non_contiguous_weight_is_written_in_logical_order():
    arr = np.arange(12, dtype=np.float32).reshape(3, 4).T
    assert bytes(stream.raw_bytes(arr)) == np.ascontiguousarray(arr).tobytes()


@pytest.mark.parametrize("offset", [0, 2**31 + 64, 2**32 + 2**20])
def test_external_tensor_head(offset):
    arr = np.zeros((4, 3), np.float32)
    want = export._tensor("w", arr, ("m.onnx.data", offset, arr.nbytes))
    assert wire.tensor_head("w", arr, ("m.onnx.data", offset, arr.nbytes)) == want.SerializeToString()


def test_external_layout_past_2_gib():
    sizes = [2**31 - 1, 5, 2**32 + 3, 64, 1]
    end, starts = 0, []
    for n in sizes:
        start, new_end = stream.place(end, n)
        assert start % stream.ALIGN == 0 and end <= start < end + stream.ALIGN and new_end == start + n
        starts.append(start)
        end = new_end
    assert starts == [0, 2**31, 2**31 + 64, 2**31 + 2**32 + 128, 2**31 + 2**32 + 192]


def test_external_data_file(tmp_path):
    graph = cnn_graph()
    graph.outputs[0].shape = ("batch", 5)
    graph.weights["big"] = np.random.default_rng(1).standard_normal((3, 300)).astype(np.float32)  # unused: dropped
    path = tmp_path / "m.onnx"
    files = save_onnx(graph, path, external=True, check=True)
    assert files == [path, tmp_path / "m.onnx.data"]
    alloc = stream.DataFile(None)
    want = to_onnx(graph, external_data="m.onnx.data", data_writer=alloc)
    assert path.read_bytes() == want.SerializeToString(deterministic=True)
    data = files[1].read_bytes()
    assert len(data) == alloc.offset
    stored = [t for t in want.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert stored  # the conv and fc weights
    for t in stored:
        info = {e.key: e.value for e in t.external_data}
        start, length = int(info["offset"]), int(info["length"])
        assert start % stream.ALIGN == 0
        assert data[start:start + length] == np.ascontiguousarray(graph.weights[t.name]).tobytes()
    x = np.random.default_rng(2).standard_normal((2, 3, 6, 6)).astype(np.float32)
    inline = tmp_path / "inline.onnx"
    save_onnx(graph, inline)
    np.testing.assert_array_equal(_session(str(path)).run(None, {"x": x})[0],
                                  _session(str(inline)).run(None, {"x": x})[0])


def test_output_without_shape_goes_through_onnx(tmp_path):
    """onnx's shape inference fills a missing output shape, as to_onnx always did."""
    graph = cnn_graph()
    assert graph.outputs[0].shape is None
    save_onnx(graph, tmp_path / "m.onnx")
    out = onnx.load(str(tmp_path / "m.onnx")).graph.output[0]
    assert out.type.tensor_type.HasField("shape") and out.type.tensor_type.shape.dim[-1].dim_value == 5


BLOCK = "raise ModuleNotFoundError('{0} is blocked by the test', name='{0}')\n"


def test_pt2_converts_without_onnx_or_torch(tmp_path):
    """The .pt2 -> .onnx path imports no onnx, protobuf, onnxruntime or torch: each is made
    unimportable in the child; the file runs in onnxruntime like the torch module."""
    import torch

    fixture = ROOT / "fixtures" / "tiny_resnet.pt2"
    block = tmp_path / "block"
    for mod in ("onnx", "onnxruntime", "google", "torch", "tensorflow"):
        (block / mod).mkdir(parents=True)
        (block / mod / "__init__.py").write_text(BLOCK.format(mod))
    env = dict(os.environ, PYTHONPATH=f"{block}{os.pathsep}{ROOT}", CUDA_VISIBLE_DEVICES="")
    out = tmp_path / "m.onnx"
    r = subprocess.run([sys.executable, str(ROOT / "cli.py"), "convert", str(fixture), "-o", str(out)], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    onnx.checker.check_model(str(out), full_check=True)
    sess = _session(str(out))
    x = np.random.RandomState(3).randn(2, 3, 32, 32).astype(np.float32)
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        want = torch.export.load(str(fixture)).module()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    assert np.abs(got - sess.run(None, {sess.get_inputs()[0].name: -x})[0]).max() > 100 * ATOL
