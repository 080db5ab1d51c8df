"""Memory bounded by the input: a few-KB file declaring huge shapes either converts in
little memory (constants kept small: a scalar mean stays a scalar, pooling divisors are
per-axis vectors) or is refused before anything is allocated, because every constant
an importer materialises counts against the file's budget (convert/limits.py)."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hostile import SMALL_MB, assert_refused, nnconvert
from hostile_files import write_keras

HUGE = 2**28  # features: 1 GiB as float32, from a 2 KB file


def _seq(*layers, n: int) -> dict:
    inp = {"class_name": "InputLayer", "config": {"batch_shape": [None, n], "dtype": "float32", "name": "x"}}
    return {"class_name": "Sequential", "config": {"name": "seq", "layers": [inp, *layers]}}


def _no_weights(f):
    del f["layers/dense"]


def layer_norm(n: int) -> dict:
    return _seq({"class_name": "LayerNormalization", "config": {"name": "ln", "axis": -1, "epsilon": 1e-3,
                                                                 "center": False, "scale": False}}, n=n)


def normalization(n: int) -> dict:
    return _seq({"class_name": "Normalization", "config": {"name": "norm", "axis": -1, "mean": 0.5,
                                                            "variance": 2.25}}, n=n)


def test_keras_layer_norm_on_a_huge_declared_shape_is_refused(tmp_path):
    src = write_keras(tmp_path / "ln.keras", _no_weights, layer_norm(HUGE))
    assert src.stat().st_size < 4096
    out = tmp_path / "out"
    for command in (["check", src, "--to", "onnx"], ["convert", src, "-o", out / "m.onnx"]):
        assert_refused(nnconvert(*command), src, out_dir=out, says="needs")


def test_keras_normalization_on_a_huge_declared_shape_stays_small(tmp_path):
    src = write_keras(tmp_path / "norm.keras", _no_weights, normalization(HUGE))
    out = tmp_path / "m.onnx"
    r = nnconvert("convert", src, "-o", out)
    assert r.code == 0, r.stderr
    assert r.peak_mb < SMALL_MB and out.stat().st_size < 4096


def test_keras_normalization_with_a_scalar_mean_computes_keras_formula(tmp_path):
    """The scalar kept as a scalar still computes (x - mean) / sqrt(variance)."""
    import onnxruntime as ort

    src = write_keras(tmp_path / "norm.keras", _no_weights, normalization(5))
    out = tmp_path / "m.onnx"
    assert nnconvert("convert", src, "-o", out).code == 0
    s = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(6).standard_normal((2, 5)).astype(np.float32)
    got = s.run(None, {s.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, (x - 0.5) / 1.5, rtol=1e-5, atol=1e-6)


CAFFE_AVE = """name: "ave"
input: "data"
input_shape { dim: 1 dim: 1 dim: 40000 dim: 40000 }
layer { name: "pool" type: "Pooling" bottom: "data" top: "pool"
        pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
"""

CAFFE_FC = """name: "fc"
input: "data"
input_shape { dim: 1 dim: 40000 }
layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" inner_product_param { num_output: 40000 } }
"""


def test_caffe_ave_pool_on_40000_squared_stays_small(tmp_path):
    src = tmp_path / "ave.prototxt"
    src.write_text(CAFFE_AVE)
    out = tmp_path / "m.onnx"
    r = nnconvert("convert", src, "--allow-missing-weights", "-o", out)
    assert r.code == 0, r.stderr
    assert r.peak_mb < SMALL_MB and out.stat().st_size < 1_000_000


def test_caffe_zero_filled_weights_count_against_the_budget(tmp_path):
    """--allow-missing-weights zero-fills from prototxt shapes: 1.6e9 values (6.4 GB)
    from a 150-byte file is refused before allocating (a zoo prototxt still converts)."""
    src = tmp_path / "fc.prototxt"
    src.write_text(CAFFE_FC)
    out = tmp_path / "out"
    assert_refused(nnconvert("convert", src, "--allow-missing-weights", "-o", out / "m.onnx"), src,
                   out_dir=out, says="zero-fill")


@pytest.fixture(scope="module")
def pt2(tmp_path_factory):
    from convert.ir import save
    from ir_graphs import conv_bn_graph

    d = tmp_path_factory.mktemp("pt2")
    save(conv_bn_graph(), d / "m.nnir")
    r = nnconvert("convert", d / "m.nnir", "-o", d / "m.pt2", seconds=300)
    assert r.code == 0, r.stderr
    return d / "m.pt2"


def test_pt2_record_declaring_more_than_its_bytes_is_refused(tmp_path, pt2):
    evil = tmp_path / "big.pt2"
    with zipfile.ZipFile(pt2) as zin, zipfile.ZipFile(evil, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("model_weights_config.json"):
                cfg = json.loads(data)
                meta = next(iter(cfg["config"].values()))["tensor_meta"]
                meta["sizes"], meta["strides"] = [{"as_int": 2**31}], [{"as_int": 1}]
                data = json.dumps(cfg).encode()
            elif "/data/weights/" in info.filename and not info.filename.endswith(".json"):
                data = b""
            zout.writestr(info, data)
    out = tmp_path / "out"
    assert_refused(nnconvert("convert", evil, "-o", out / "m.onnx"), evil, out_dir=out, peak_mb=1500,
                   says="needs 2147483648 elements")
