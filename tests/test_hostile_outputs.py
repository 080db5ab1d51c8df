"""Outputs: --force replaces only files a target writes (never a directory), failed runs
leave nothing (not even the folders they created, nor Keras' temporary folders), a
dangling symlink is an existing output; outputs that could not run are refused with the
layer named (negative or absurd sizes, complex weights), non-finite attributes are
written so that they run; every error is one line naming the file, with control
characters from layer names escaped."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hostile import assert_refused, nnconvert
from hostile_files import KERNEL, write_keras

RELU_NET = """name: "n"
input: "data"
input_shape { dim: 1 dim: 2 dim: 8 dim: 8 }
layer { name: "act" type: "ReLU" bottom: "data" top: "act" relu_param { negative_slope: SLOPE } }
"""


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("net") / "net.prototxt"
    p.write_text(RELU_NET.replace("SLOPE", "0.25"))
    return p


def convert(src: Path, out, *extra, seconds: int = 120):
    return nnconvert("convert", src, "--allow-missing-weights", "-o", out, *extra, seconds=seconds)


# -- class 6: --force never deletes a directory --------------------------------------
@pytest.mark.parametrize("spelling", ["dir/", "dir.onnx"])
def test_a_directory_as_output_is_a_usage_error(tmp_path, net, spelling):
    d = tmp_path / spelling.rstrip("/")
    d.mkdir()
    (d / "precious.txt").write_text("keep me")
    target = str(tmp_path / spelling)
    r = convert(net, target, "--force", *(["--to", "onnx"] if spelling.endswith("/") else []))
    assert_refused(r, d, code=2, says="directory")
    assert (d / "precious.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == [d.name]


def test_force_replaces_an_nnir_folder_only_when_it_holds_nothing_else(tmp_path, net):
    out = tmp_path / "m.nnir"
    assert convert(net, out).code == 0
    assert convert(net, out, "--force").code == 0  # its own files: replaced
    (out / "notes.txt").write_text("mine")
    r = convert(net, out, "--force")
    assert_refused(r, out, code=2, says="did not write")
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.nnir"]  # no temporary folder left


def test_force_replaces_a_file(tmp_path, net):
    out = tmp_path / "m.onnx"
    out.write_text("old")
    r = convert(net, out, "--force")
    assert r.code == 0, r.stderr
    assert out.read_bytes()[:4] != b"old"


# -- class 8: what a failed run leaves --------------------------------------------------
def test_dangling_symlink_is_an_existing_output(tmp_path, net):
    link = tmp_path / "m.onnx"
    link.symlink_to(tmp_path / "elsewhere.onnx")
    r = convert(net, link)
    assert_refused(r, link, code=2, says="exists")
    assert link.is_symlink() and not (tmp_path / "elsewhere.onnx").exists()


def test_failed_write_into_a_missing_directory_leaves_no_directory(tmp_path, net):
    ref = tmp_path / "ref.npz"
    x = np.random.default_rng(7).standard_normal((1, 2, 8, 8)).astype(np.float32)
    np.savez(ref, data=x, act=np.where(x > 0, x, 0.25 * x) + 1.0)  # off by one: a mismatch
    out = tmp_path / "new" / "deeper" / "m.onnx"
    r = convert(net, out, "--verify", "--reference", ref)
    assert r.code == 1, r.stderr
    assert not (tmp_path / "new").exists()
    # Control: the same reference without the offset passes, so the mismatch was real.
    np.savez(ref, data=x, act=np.where(x > 0, x, 0.25 * x))
    assert convert(net, out, "--verify", "--reference", ref).code == 0


def test_failed_keras_verification_leaves_no_temporary_folder(tmp_path):
    """Keras refuses to load this hand-written archive for verification (exit 3); the
    folders it extracted into are gone."""
    src = write_keras(tmp_path / "m.keras")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    os.environ["TMPDIR"], old = str(tmp), os.environ.get("TMPDIR")
    try:
        r = nnconvert("convert", src, "-o", tmp_path / "out" / "m.onnx", "--verify", seconds=300)
    finally:
        os.environ.pop("TMPDIR") if old is None else os.environ.__setitem__("TMPDIR", old)
    assert r.code == 3, r.stderr
    assert [p.name for p in tmp.iterdir() if p.is_dir()] == []
    assert not (tmp_path / "out").exists()


# -- class 7: outputs that could not run are refused; non-finite attributes run -------------
def test_caffe_pool_kernel_larger_than_its_input(tmp_path):
    src = tmp_path / "pool.prototxt"
    src.write_text(RELU_NET.replace('type: "ReLU"', 'type: "Pooling"').replace(
        "relu_param { negative_slope: SLOPE }", "pooling_param { pool: MAX kernel_size: 100 stride: 1 }"))
    out = tmp_path / "out"
    line = assert_refused(convert(src, out / "m.onnx"), src, out_dir=out, says="'act'")
    assert "-91" in line


@pytest.mark.parametrize("fmt", ["caffe", "keras"])
def test_absurd_batch_is_refused(tmp_path, fmt):
    if fmt == "caffe":
        src = tmp_path / "batch.prototxt"
        src.write_text(RELU_NET.replace("dim: 1 dim: 2", f"dim: {2**62} dim: 2").replace("SLOPE", "0.1"))
    else:
        from hostile_files import dense_config

        cfg = dense_config(False)
        cfg["config"]["layers"][0]["config"]["batch_shape"] = [2**62, 4]
        src = write_keras(tmp_path / "batch.keras", config=cfg)
    out = tmp_path / "out"
    assert_refused(convert(src, out / "m.onnx"), src, out_dir=out, says=str(2**62))


def test_complex_kernel_is_refused_not_truncated(tmp_path):
    def edit(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = KERNEL.astype(np.complex64) * (1 + 1j)

    src = write_keras(tmp_path / "complex.keras", edit)
    out = tmp_path / "out"
    assert_refused(convert(src, out / "m.onnx"), src, out_dir=out, says="complex64")


def test_nan_slope_generates_source_that_runs_like_torch(tmp_path):
    """A NaN attribute reaches generated Python as math.nan (a bare ``nan`` was a
    NameError on import); the module computes what torch's own LeakyReLU(nan) does."""
    import importlib.util

    import torch

    src = tmp_path / "nan.prototxt"
    src.write_text(RELU_NET.replace("SLOPE", "nan"))
    out = tmp_path / "src" / "m.py"
    r = nnconvert("convert", src, "--allow-missing-weights", "-o", out, "--to", "torch-source")
    assert r.code == 0, r.stderr
    spec = importlib.util.spec_from_file_location("nan_slope_generated", out)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    x = torch.from_numpy(np.random.default_rng(8).standard_normal((1, 2, 8, 8)).astype(np.float32))
    got = mod.load_model()(x).detach().numpy()
    want = torch.nn.LeakyReLU(float("nan"))(x).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=0, atol=0)
    assert np.isnan(got).any() and (~np.isnan(got)).any()


# -- class 8: one line, naming the file, control characters escaped ------------------------------
def test_layer_names_cannot_drive_the_terminal(tmp_path):
    evil = "a\\rb\\x1b[2J\\x1b]0;title\\x07c\\u202e"  # prototxt escapes: \r, ESC sequences, BEL, RLO
    src = tmp_path / "names.prototxt"
    src.write_text(RELU_NET.replace('name: "act" type: "ReLU"', f'name: "{evil}" type: "NoSuchLayer"'))
    r = nnconvert("check", src, "--allow-missing-weights")
    assert_refused(r, src)
    text = r.stdout + r.stderr
    assert "\x1b" not in text and "\r" not in text and "\u202e" not in text and "\x07" not in text
    assert "\\x1b[2J" in text and "\\r" in text


def test_input_errors_name_the_file(tmp_path):
    src = tmp_path / "dims.prototxt"
    src.write_text('name: "net"\ninput: "data"\ninput_dim: 1\ninput_dim: 2\n'
                   'layer { name: "r" type: "ReLU" bottom: "data" top: "r" }\n')
    out = tmp_path / "out"
    assert_refused(convert(src, out / "m.onnx"), src, out_dir=out, says="input_dim")
