"""Large external initializers stay on disk until the importer reads each one straight
into its array (shape inference never copies them), checked as strictly as small ones;
the verification runner still gets the whole model."""
from __future__ import annotations

import numpy as np
import pytest

import convert

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from convert.errors import ModelLoadError  # noqa: E402
from convert.importers.onnx.read import DEFERRED_BYTES  # noqa: E402

N = 160  # a (N, N) float32 weight: 100 KiB, past DEFERRED_BYTES


def _model(folder, location: str = "m.data", length: int = 4 * N * N):
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[N, N], data_location=TensorProto.EXTERNAL)
    for k, v in (("location", location), ("offset", "0"), ("length", str(length))):
        t.external_data.add(key=k, value=v)
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, N])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, N])], initializer=[t])
    folder.mkdir(exist_ok=True)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(folder / "m.onnx"))
    return folder / "m.onnx"


def test_deferred_weight_read_checked_and_verifiable(tmp_path):
    assert 4 * N * N >= DEFERRED_BYTES
    path = _model(tmp_path / "ok")
    w = np.random.default_rng(0).standard_normal((N, N)).astype(np.float32)
    w.tofile(path.parent / "m.data")
    graph = convert.from_onnx(path)
    assert np.array_equal(graph.weights["w"], w)
    from convert.importers.onnx import load

    loaded = load(str(path))  # onnxruntime runs the source with the weight inlined
    x = np.random.default_rng(1).standard_normal((2, N)).astype(np.float32)
    (y,) = loaded.run({loaded.graph.inputs[0].name: x}).values()
    assert np.allclose(y, x @ w, rtol=1e-4, atol=1e-4)


def test_deferred_weight_hostile_locations_and_sizes_refused(tmp_path):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 4 * N * N)
    with pytest.raises(ModelLoadError, match="outside the model's folder"):
        convert.from_onnx(_model(tmp_path / "bad", "../secret.bin"))
    short = _model(tmp_path / "short")
    (short.parent / "m.data").write_bytes(b"\0" * 100)
    with pytest.raises(ModelLoadError, match="declares"):
        convert.from_onnx(short)
    lying = _model(tmp_path / "lying", length=12)
    (lying.parent / "m.data").write_bytes(b"\0" * 4 * N * N)
    with pytest.raises(ModelLoadError, match="declares"):
        convert.from_onnx(lying)
