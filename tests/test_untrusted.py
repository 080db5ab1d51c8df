"""Untrusted files: nothing from a model file runs by default, and hostile sizes,
nesting and archives end in a clear error (exit 3) instead of an OOM kill or a hang."""
from __future__ import annotations

import json
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from convert import limits
from robust_models import assert_clean_failure, cli, make_caffe, make_keras, make_nnir, make_pt2, time_limit


class Payload:
    """Unpickling this runs code: it writes the marker file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('pwned')",)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("base")
    nnir = make_nnir(d)
    return {"nnir": nnir, "pt2": make_pt2(d, nnir), "keras": make_keras(d, nnir), "caffe": make_caffe(d, nnir)}


def convert_fails(tmp_path, *args, culprit=None):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    r = cli("convert", *args, "-o", out / "m.onnx")
    assert_clean_failure(r, args[0], out, culprit=culprit)
    return r.output


# -- code execution ----------------------------------------------------------------
def test_malicious_pickle_is_refused_by_default(tmp_path):
    import torch

    marker = tmp_path / "marker"
    evil = tmp_path / "model.pt"
    torch.save(Payload(marker), evil)
    text = convert_fails(tmp_path, evil, "--input-shape", "x:1,3")
    assert "--trust-pickle" in text and "refused" in text
    assert not marker.exists()
    # Control: the payload is real -- trusting the file runs it (and then the file is
    # still no model, a clean error).
    r = cli("convert", evil, "--trust-pickle", "--input-shape", "x:1,3", "-o", tmp_path / "t.onnx")
    assert marker.exists() and r.exit_code == 3 and "Traceback" not in r.output


def test_malicious_state_dict_is_refused(tmp_path, base):
    import torch

    marker = tmp_path / "marker"
    evil = tmp_path / "state.pt"
    torch.save({"conv.weight": Payload(marker)}, evil)
    py = tmp_path / "net.py"
    py.write_text("import torch\ndef build():\n    return torch.nn.Conv2d(3, 4, 3)\n"
                  "def example_inputs():\n    return (torch.randn(1, 3, 6, 6),)\n")
    convert_fails(tmp_path, f"{py}:build", "--weights", evil, culprit=evil)
    assert not marker.exists()


def _pt2_with(tmp_path, base, member_suffix: str, payload: bytes, config_patch=None) -> Path:
    src = base["pt2"]
    dst = tmp_path / "evil.pt2"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith(member_suffix):
                data = payload
            if config_patch and info.filename.endswith("model_weights_config.json"):
                data = config_patch(data)
            zout.writestr(info, data)
    return dst


def _use_pickle(raw: bytes) -> bytes:
    cfg = json.loads(raw)
    cfg["config"]["conv.weight"]["use_pickle"] = True
    return json.dumps(cfg).encode()


@pytest.mark.parametrize("where", ["pickled-weight", "sample-inputs"])
def test_pt2_with_pickled_code_is_refused(tmp_path, base, where):
    """torch.export.load unpickles such members with weights_only=False: nnconvert must not."""
    import io

    import torch

    marker = tmp_path / "marker"
    buf = io.BytesIO()
    torch.save(Payload(marker), buf)
    if where == "pickled-weight":
        evil = _pt2_with(tmp_path, base, "data/weights/weight_0", buf.getvalue(), _use_pickle)
        text = convert_fails(tmp_path, evil)
        assert "--trust-pickle" in text
    else:
        # The archive reader never reads sample inputs, and torch (for --verify) gets the
        # validated members plus sample inputs made here: the file's pickle is never opened.
        evil = _pt2_with(tmp_path, base, "sample_inputs/model.pt", buf.getvalue())
        r = cli("convert", evil, "--verify", "-o", tmp_path / "v.onnx")
        assert r.exit_code == 0, r.output
    assert not marker.exists()
    # Control: plain torch.export.load (what --trust-pickle allows) runs the payload.
    cli("convert", evil, "--trust-pickle", "-o", tmp_path / "t.onnx")
    assert marker.exists()


def test_keras_lambda_and_custom_layers_are_refused(tmp_path):
    import keras

    inp = keras.Input((4,), name="x")
    y = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inp)
    keras.Model(inp, keras.layers.Dense(2, name="dense")(y)).save(tmp_path / "lambda.keras")
    r = cli("check", tmp_path / "lambda.keras")
    assert r.exit_code == 3 and "double" in r.output and "never executed" in r.output

    @keras.saving.register_keras_serializable(package="untrusted_test")
    class Twice(keras.layers.Layer):
        def call(self, t):
            return t * 2.0

    keras.Model(inp, Twice(name="twice")(inp)).save(tmp_path / "custom.keras")
    r = cli("check", tmp_path / "custom.keras")
    assert r.exit_code == 3 and "twice" in r.output and "plugin" in r.output


def test_caffe_python_layer_is_refused(tmp_path, base):
    proto, model = base["caffe"]
    text = proto.read_text() + ('\nlayer { name: "py" type: "Python" bottom: "%s" top: "py_out" '
                                'python_param { module: "evil" layer: "Run" } }\n' % _last_top(proto))
    evil = tmp_path / "py.prototxt"
    evil.write_text(text)
    r = cli("check", evil, "--weights", model)
    assert r.exit_code == 3 and "Python" in r.output and "never executed" in r.output


def _last_top(proto: Path) -> str:
    import re

    return re.findall(r'top: "([^"]+)"', proto.read_text())[-1]


# -- hostile sizes ----------------------------------------------------------------------
def _safetensors(header: dict, data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


@pytest.mark.parametrize("shape", [[2**40, 2**40], [2**62, 4], [-1, 4]], ids=["huge", "int64-wrap", "negative"])
def test_safetensors_absurd_shape(tmp_path, base, shape):
    nnir = tmp_path / "m.nnir"
    shutil.copytree(base["nnir"], nnir)
    (nnir / "weights.safetensors").write_bytes(_safetensors({"w": {"dtype": "F32", "shape": shape,
                                                                  "data_offsets": [0, 0]}}))
    convert_fails(tmp_path, nnir)


@pytest.mark.parametrize("shape", [(2**16, 2**16), (2**14, 2**14)], ids=["over-tensor-limit", "over-file-budget"])
def test_hdf5_absurd_dataset(tmp_path, base, shape):
    """A chunked dataset may declare any shape in a tiny file (unwritten chunks read as fill)."""
    import h5py

    bad = tmp_path / "big.keras"
    with zipfile.ZipFile(base["keras"]) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "model.weights.h5":
                h5 = tmp_path / "w.h5"
                h5.write_bytes(data)
                with h5py.File(h5, "r+") as f:
                    names = []
                    f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
                    del f[names[0]]
                    f.create_dataset(names[0], shape=shape, dtype="f4", chunks=(64, 64))
                data = h5.read_bytes()
            zout.writestr(info, data)
    with time_limit(30):
        text = convert_fails(tmp_path, bad)
    assert "declares" in text or "exceeds" in text


def test_caffemodel_blob_shape_longer_than_its_data(tmp_path, base):
    """A blob whose shape promises more values than its data holds is a load error."""
    from convert.caffe_proto import caffe_pb2

    proto, model = base["caffe"]
    net = caffe_pb2.NetParameter()
    net.ParseFromString(model.read_bytes())
    layer = next(l for l in net.layer if len(l.blobs))
    del layer.blobs[0].data[10:]
    bad = tmp_path / "short.caffemodel"
    bad.write_bytes(net.SerializeToString())
    text = convert_fails(tmp_path, proto, "--weights", bad)
    assert "with 10 values" in text


def test_prototxt_with_an_absurd_layer_size(tmp_path, base):
    proto, _ = base["caffe"]
    bad = tmp_path / "huge.prototxt"
    bad.write_text(proto.read_text().replace("num_output: 4", "num_output: 2000000000"))
    with time_limit(30):
        text = convert_fails(tmp_path, bad, "--allow-missing-weights")
    assert "exceeds the limit" in text


# -- nesting and archives ------------------------------------------------------------------
def test_deeply_nested_keras_config(tmp_path, base):
    bad = tmp_path / "deep.keras"
    deep = "[" * 100_000 + "]" * 100_000
    with zipfile.ZipFile(base["keras"]) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, deep if info.filename == "config.json" else zin.read(info))
    with time_limit(30):
        text = convert_fails(tmp_path, bad)
    assert "nests" in text


def test_deeply_nested_nnir_graph(tmp_path, base):
    nnir = tmp_path / "deep.nnir"
    shutil.copytree(base["nnir"], nnir)
    (nnir / "graph.json").write_text('{"a":' * 50_000 + "1" + "}" * 50_000)
    assert "nests" in convert_fails(tmp_path, nnir)


def test_zip_bomb_keras(tmp_path, base):
    bad = tmp_path / "bomb.keras"
    shutil.copyfile(base["keras"], bad)
    with zipfile.ZipFile(bad, "a", compression=zipfile.ZIP_DEFLATED) as zf, zf.open("padding.bin", "w") as f:
        chunk = bytes(2**20)
        for _ in range(limits.ZIP_EXPANSION_SLACK // 2**20 + 8):
            f.write(chunk)
    assert bad.stat().st_size < 2**20
    assert "zip bomb" in convert_fails(tmp_path, bad)


def test_prototxt_nesting_recursion(tmp_path):
    bad = tmp_path / "deep.prototxt"
    bad.write_text('name: "n"\n' + "junk { " * 20_000 + "} " * 20_000)
    with time_limit(30):
        convert_fails(tmp_path, bad, "--allow-missing-weights")


def test_caffemodel_group_recursion(tmp_path, base):
    _, model = base["caffe"]
    bad = tmp_path / "deep.caffemodel"
    start, end = bytes([(999 << 3 | 3) & 0x7F | 0x80, (999 << 3 | 3) >> 7]), bytes([(999 << 3 | 4) & 0x7F | 0x80, (999 << 3 | 4) >> 7])
    bad.write_bytes(model.read_bytes() + start * 5000 + end * 5000)
    with time_limit(30):
        convert_fails(tmp_path, bad)


def test_limits_are_named_constants():
    for name in ("MAX_TENSOR_ELEMENTS", "MAX_JSON_DEPTH", "ZIP_EXPANSION_RATIO", "ZIP_EXPANSION_SLACK",
                 "MAX_ZIP_MEMBERS", "MAX_TEXT_BYTES"):
        assert isinstance(getattr(limits, name), int) and getattr(limits, name) > 0
    assert limits.json_depth({"a": [[1]]}) == 3
    assert limits._text_depth('{"x": "[[[[", "y": [1]}') == 2  # brackets inside strings do not count


def test_pt2_absurd_tensor_size(tmp_path, base):
    def huge(raw: bytes) -> bytes:
        cfg = json.loads(raw)
        meta = cfg["config"]["conv.weight"]["tensor_meta"]
        meta["sizes"] = [{"as_int": 2**20}] * 4
        return json.dumps(cfg).encode()

    src = base["pt2"]
    with zipfile.ZipFile(src) as zf:
        name = next(n for n in zf.namelist() if n.endswith("data/weights/weight_0"))
        payload = zf.read(name)
    evil = _pt2_with(tmp_path, base, "data/weights/weight_0", payload, huge)
    with time_limit(30):
        convert_fails(tmp_path, evil)
