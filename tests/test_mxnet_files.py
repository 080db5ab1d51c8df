"""MXNet files read without MXNet: the .params binary and the symbol JSON, hostile and
broken ones included. (Numbers against MXNet itself: test_mxnet_ops.py, test_mxnet_zoo.py.)"""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from convert.errors import ModelLoadError, UnsupportedError, UsageError

V2 = 0xF993FAC9


def ndarray_v2(a: np.ndarray) -> bytes:
    flag = {np.float32: 0, np.float64: 1, np.int64: 6}[a.dtype.type]
    return (struct.pack("<Iii", V2, 0, a.ndim) + struct.pack(f"<{a.ndim}q", *a.shape)
            + struct.pack("<iii", 1, 0, flag) + a.tobytes())


def ndarray_legacy(a: np.ndarray) -> bytes:
    return struct.pack(f"<I{a.ndim}I", a.ndim, *a.shape) + struct.pack("<iii", 1, 0, 0) + a.tobytes()


def params_bytes(arrays: dict, enc=ndarray_v2) -> bytes:
    out = struct.pack("<QQQ", 0x112, 0, len(arrays)) + b"".join(enc(a) for a in arrays.values())
    out += struct.pack("<Q", len(arrays))
    for name in arrays:
        out += struct.pack("<Q", len(name)) + name.encode()
    return out


def fc_symbol(ops=("FullyConnected",)) -> dict:
    nodes = [{"op": "null", "name": "data", "inputs": []},
             {"op": "null", "name": "fc_weight", "inputs": []},
             {"op": "null", "name": "fc_bias", "inputs": []},
             {"op": "FullyConnected", "name": "fc", "attrs": {"num_hidden": "3"}, "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]}]
    for k, op in enumerate(ops[1:]):
        nodes.append({"op": op, "name": f"odd{k}", "attrs": {}, "inputs": [[len(nodes) - 1, 0, 0]]})
    return {"nodes": nodes, "arg_nodes": [0, 1, 2], "heads": [[len(nodes) - 1, 0, 0]]}


@pytest.fixture
def fc_files(tmp_path):
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    (tmp_path / "m-symbol.json").write_text(json.dumps(fc_symbol()))
    (tmp_path / "m-0000.params").write_bytes(params_bytes({"arg:fc_weight": w, "arg:fc_bias": b}))
    return tmp_path, w, b


@pytest.mark.parametrize("enc", [ndarray_v2, ndarray_legacy], ids=["v2", "pre-1.0"])
def test_params_round_trip(tmp_path, enc):
    from convert.importers.mxnet.params import read_params

    arrays = {"arg:w": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "aux:m": np.array([1.5, -2], np.float32)}
    (tmp_path / "p.params").write_bytes(params_bytes(arrays, enc))
    got = read_params(tmp_path / "p.params")
    assert list(got) == list(arrays)
    for k in arrays:
        np.testing.assert_array_equal(got[k], arrays[k])


def _broken(tmp_path, data: bytes) -> str:
    from convert.importers.mxnet.params import read_params

    p = tmp_path / "bad.params"
    p.write_bytes(data)
    with pytest.raises(ModelLoadError) as e:
        read_params(p)
    return str(e.value)


def test_params_hostile_sizes_refused_before_allocating(tmp_path):
    good = params_bytes({"arg:w": np.ones((2, 2), np.float32)})
    # a 2^40-element tensor declared in a 100-byte file
    huge = struct.pack("<QQQ", 0x112, 0, 1) + struct.pack("<Iii", V2, 0, 2) + struct.pack("<2q", 2**20, 2**20) \
        + struct.pack("<iii", 1, 0, 0)
    assert "exceeds the limit" in _broken(tmp_path, huge)
    fits_limit = huge.replace(struct.pack("<2q", 2**20, 2**20), struct.pack("<2q", 2**10, 2**10))
    assert "only 0 bytes left" in _broken(tmp_path, fits_limit)
    assert "declares 1152921504606846976 arrays" in _broken(tmp_path, struct.pack("<QQQ", 0x112, 0, 2**60) + b"\0" * 16)
    assert "truncated" in _broken(tmp_path, good[:40])
    assert "more than its 4 bytes" in _broken(tmp_path, good[:-9])
    assert "not an MXNet .params file" in _broken(tmp_path, b"PK\3\4" + good[4:])
    assert "unexpected bytes" in _broken(tmp_path, good + b"x")
    assert "negative" in _broken(tmp_path, good.replace(struct.pack("<2q", 2, 2), struct.pack("<2q", 2, -2)))


def test_symbol_and_weights_found_beside_it(fc_files):
    from convert.importers.mxnet import from_mxnet
    from helpers import run_onnx

    d, w, b = fc_files
    g = from_mxnet(str(d / "m-symbol.json"), input_shapes={"data": ("batch", 4)})
    x = np.random.default_rng(1).normal(size=(2, 4)).astype(np.float32)
    got = run_onnx(g, {"data": x})[g.outputs[0].name]
    np.testing.assert_allclose(got, x @ w.T + b, rtol=1e-5, atol=1e-5)  # FullyConnected by definition


def test_input_shape_required_and_checked(fc_files):
    from convert.importers.mxnet import from_mxnet

    d, _, _ = fc_files
    with pytest.raises(UsageError, match="--input-shape data:batch,3,224,224"):
        from_mxnet(str(d / "m-symbol.json"))
    with pytest.raises(UsageError, match=r"names \['x'\]"):
        from_mxnet(str(d / "m-symbol.json"), input_shapes={"data": (1, 4), "x": (1,)})


def test_unknown_operators_listed_at_once(tmp_path, fc_files):
    from convert.importers.mxnet import from_mxnet

    d, _, _ = fc_files
    (d / "m-symbol.json").write_text(json.dumps(fc_symbol(("FullyConnected", "_contrib_Foo", "Bar", "Bar"))))
    with pytest.raises(UnsupportedError) as e:
        from_mxnet(str(d / "m-symbol.json"), input_shapes={"data": (1, 4)})
    msg = str(e.value)
    assert "3 unsupported" in msg and "Bar x2" in msg and "_contrib_Foo x1" in msg and "odd2" in msg


def test_unsupported_attribute_and_missing_weight_named(fc_files):
    from convert.importers.mxnet import from_mxnet

    d, w, _ = fc_files
    sym = fc_symbol()
    sym["nodes"][3]["attrs"]["no_bias"] = "True"
    sym["nodes"].append({"op": "Pooling", "name": "lp", "attrs": {"pool_type": "lp", "kernel": "(1,)"},
                         "inputs": [[3, 0, 0]]})
    sym["heads"] = [[4, 0, 0]]
    (d / "m-symbol.json").write_text(json.dumps(sym))
    with pytest.raises(UnsupportedError, match=r"lp \(Pooling\): pool_type='lp'"):
        from_mxnet(str(d / "m-symbol.json"), input_shapes={"data": (1, 4)})
    (d / "m-0000.params").write_bytes(params_bytes({"arg:fc_weight": w[:2]}))
    sym["heads"] = [[3, 0, 0]]
    (d / "m-symbol.json").write_text(json.dumps(sym))
    with pytest.raises(ModelLoadError, match=r"'fc_weight' has shape \(2, 4\), the operator implies \(3, 4\)"):
        from_mxnet(str(d / "m-symbol.json"), input_shapes={"data": (1, 4)})


@pytest.mark.parametrize("text, problem", [
    ("{", "not valid JSON"),
    ('{"nodes": 3, "heads": []}', "not an MXNet symbol file"),
    ('{"nodes": [{"op": "null", "name": "a", "inputs": [[1, 0, 0]]}, {"op": "null", "name": "b"}], "heads": [[1, 0, 0]]}',
     "not in topological order"),
    ('{"nodes": [{"op": "null", "name": "a"}], "heads": [[5, 0, 0]]}', "refers to node 5"),
    ("[" * 500 + "]" * 500, "nests 500 levels"),
])
def test_broken_symbol_files(tmp_path, fc_files, text, problem):
    from convert.importers.mxnet import from_mxnet

    d, _, _ = fc_files
    (d / "m-symbol.json").write_text(text)
    with pytest.raises(ModelLoadError, match=problem):
        from_mxnet(str(d / "m-symbol.json"), str(d / "m-0000.params"), {"data": (1, 4)})


def test_ambiguous_params_need_weights(fc_files):
    from convert.importers.mxnet import find_params

    d, _, _ = fc_files
    (d / "m-0001.params").write_bytes((d / "m-0000.params").read_bytes())
    with pytest.raises(ModelLoadError, match="m-0000.params, m-0001.params"):
        find_params(str(d / "m-symbol.json"))


def test_cli_converts_and_says_when_mxnet_is_absent(fc_files, monkeypatch):
    from click.testing import CliRunner

    from convert.cli.main import main

    d, _, _ = fc_files
    monkeypatch.delenv("NNCONVERT_MXNET_PYTHON", raising=False)
    base = ["convert", str(d / "m-symbol.json"), "--input-shape", "data:batch,4"]
    res = CliRunner().invoke(main, base + ["-o", str(d / "m.onnx")])
    assert res.exit_code == 0, res.output
    assert (d / "m.onnx").exists()
    res = CliRunner().invoke(main, base + ["-o", str(d / "v.onnx"), "--verify"])
    assert res.exit_code == 3
    assert "MXNet is not available: set NNCONVERT_MXNET_PYTHON" in res.output
    assert not (d / "v.onnx").exists()
    res = CliRunner().invoke(main, ["convert", str(d / "m-0000.params"), "-o", str(d / "p.onnx")])
    assert res.exit_code == 2 and "give the symbol file as the source" in res.output
