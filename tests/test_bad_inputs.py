"""The bad-input corpus: every broken, hostile or mislabelled file ends, through the
CLI, in exit 3 with one error line naming the file, no traceback, no hang and no
output file -- or, where the damage leaves a readable model (a flipped bit inside a
weight), in a normal conversion. NaN/Inf weights convert with a warning."""
from __future__ import annotations

import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from robust_models import (assert_clean_failure, cli, listing, make_caffe, make_h5, make_keras, make_nnir,
                           make_pt2, make_torch_factory, nan_nnir)

TRUNCATE_AT = (0.0, 0.3, 0.7, 0.97)  # fractions of the file length


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    d = tmp_path_factory.mktemp("valid")
    nnir = make_nnir(d)
    proto, caffemodel = make_caffe(d, nnir)
    keras_file = make_keras(d, nnir)
    py, sd = make_torch_factory(d)
    return {"nnir": nnir, "prototxt": proto, "caffemodel": caffemodel, "pt2": make_pt2(d, nnir),
            "keras": keras_file, "h5": make_h5(d, keras_file), "torch_py": py, "torch_sd": sd,
            "onnx": cli_convert(nnir, d / "m.onnx")}


def cli_convert(src, out):
    r = cli("convert", src, "-o", out)
    assert r.exit_code == 0, r.output
    return out


def run_case(tmp_path, source, *extra, expect_fail=True):
    """Convert ``source`` to ONNX; a failure must follow the contract (the error names
    the damaged file: ``--weights FILE`` when one is given, else the source)."""
    out_dir = tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    r = cli("convert", source, "-o", out_dir / "m.onnx", *extra)
    if r.exit_code == 0 and not expect_fail:
        assert listing(out_dir) == ["m.onnx"]
        assert "Traceback" not in r.output
        return r
    culprit = extra[extra.index("--weights") + 1] if "--weights" in extra and ".py:" in str(source) else None
    assert_clean_failure(r, source, out_dir, culprit=culprit)
    return r


# -- byte-level damage -------------------------------------------------------------
def _zip_member_span(path: Path, pattern: str) -> tuple[int, int]:
    """(start, end) of the first stored member whose name contains ``pattern``."""
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if pattern in info.filename and info.file_size > 8:
                raw = path.read_bytes()
                name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
                start = info.header_offset + 30 + name_len + extra_len
                return start, start + info.compress_size
    raise AssertionError(f"no member {pattern} in {path}")


def _find(raw: bytes, needle: bytes) -> tuple[int, int]:
    i = raw.index(needle)
    return i, i + len(needle)


def _h5_weight_span(path: Path) -> tuple[int, int]:
    import h5py

    with h5py.File(path, "r") as f:
        spans = []
        f.visititems(lambda n, o: spans.append((o.id.get_offset(), o.id.get_storage_size()))
                     if isinstance(o, h5py.Dataset) and o.id.get_offset() else None)
    off, size = max(spans, key=lambda s: s[1])
    return off, off + size


def _caffemodel_weight_span(valid) -> tuple[int, int]:
    from convert.importers.caffe.wire import split_net

    raw = valid["caffemodel"].read_bytes()
    _, blobs, _ = split_net(raw)
    data = next(b for bl in blobs for b in bl if b.data.size > 8).data
    start = data.__array_interface__["data"][0] - np.frombuffer(raw, np.uint8).__array_interface__["data"][0]
    return start, start + data.nbytes


# Each format: the file to damage, extra CLI args, and the graph/weights byte spans.
FORMATS = {
    "pt2": ("pt2", (), lambda v: _zip_member_span(v["pt2"], "models/"), lambda v: _zip_member_span(v["pt2"], "weights/")),
    "keras": ("keras", (), lambda v: _zip_member_span(v["keras"], "config.json"),
              lambda v: _zip_member_span(v["keras"], "model.weights.h5")),
    "h5": ("h5", (), lambda v: _find(v["h5"].read_bytes(), b'"class_name"'), lambda v: _h5_weight_span(v["h5"])),
    "caffemodel": ("caffemodel", (), lambda v: _find(v["caffemodel"].read_bytes(), b"Convolution"),
                   _caffemodel_weight_span),
    "prototxt": ("prototxt", ("--weights", "caffemodel"), lambda v: _find(v["prototxt"].read_bytes(), b"Convolution"),
                 None),
    "state_dict": ("torch_sd", ("torch_py:build",), lambda v: _zip_member_span(v["torch_sd"], "data.pkl"),
                   lambda v: _zip_member_span(v["torch_sd"], "data/0")),
    "nnir-weights": ("nnir", (), lambda v: (8, 40), lambda v: (200, 300)),
}


def _prepare(valid, tmp_path, fmt: str, data: bytes, name: str | None = None):
    """Write damaged ``data`` in place of the format's file; returns (source, extra args)."""
    key, extra, _, _ = FORMATS[fmt]
    orig = valid[key]
    work = tmp_path / "in"
    work.mkdir(exist_ok=True)
    args = []
    for a in extra:
        if a == "caffemodel":
            args.append(str(valid["caffemodel"]))
        elif a == "torch_py:build":
            args = ["--weights"]  # the state_dict is the damaged file
        else:
            args.append(a)
    if fmt == "nnir-weights":
        src = work / "m.nnir"
        shutil.copytree(orig, src)
        (src / "weights.safetensors").write_bytes(data)
        return src, args
    target = work / (name or orig.name)
    target.write_bytes(data)
    if fmt == "state_dict":
        return f"{valid['torch_py']}:build", ["--weights", str(target)]
    return target, args


def _original(valid, fmt):
    key = FORMATS[fmt][0]
    return (valid[key] / "weights.safetensors").read_bytes() if fmt == "nnir-weights" else valid[key].read_bytes()


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("damage", ["empty", "random", *[f"truncated@{f}" for f in TRUNCATE_AT]])
def test_unreadable_file(valid, tmp_path, fmt, damage):
    raw = _original(valid, fmt)
    if damage == "empty":
        data = b""
    elif damage == "random":
        data = np.random.default_rng(0).bytes(len(raw))
    else:
        data = raw[:int(len(raw) * float(damage.split("@")[1]))]
    src, args = _prepare(valid, tmp_path, fmt, data)
    # A prototxt cut at its very end can still be a complete net: that may convert.
    run_case(tmp_path, src, *args, expect_fail=not (fmt == "prototxt" and damage == "truncated@0.97"))


FLIP_CASES = [(f, w) for f, spec in FORMATS.items() for w, fn in (("graph", spec[2]), ("weights", spec[3]))
              if fn is not None]  # a prototxt holds no weights


@pytest.mark.parametrize("fmt,where", FLIP_CASES, ids=[f"{f}-{w}" for f, w in FLIP_CASES])
def test_bit_flips(valid, tmp_path, fmt, where):
    """A flipped bit either breaks the file (clean error) or leaves a readable model."""
    span_fn = FORMATS[fmt][2 if where == "graph" else 3]
    raw = bytearray(_original(valid, fmt))
    start, end = span_fn(valid)
    for k, pos in enumerate(np.linspace(start, end - 1, 3).astype(int)):
        data = bytearray(raw)
        data[pos] ^= 1 << (k * 3 % 8)
        case = tmp_path / f"flip{k}"
        case.mkdir()
        src, args = _prepare(valid, case, fmt, bytes(data))
        run_case(case, src, *args, expect_fail=False)


# -- mislabelled and mismatched files ----------------------------------------------------
MISLABELLED = [
    ("keras-as-pt2", "keras", "m.pt2"),
    ("pt2-as-keras", "pt2", "m.keras"),
    ("onnx-as-keras", "onnx", "m.keras"),
    ("onnx-as-caffemodel", "onnx", "m.caffemodel"),
    ("caffemodel-as-h5", "caffemodel", "m.h5"),
    ("caffemodel-as-prototxt", "caffemodel", "m.prototxt"),
    ("prototxt-as-caffemodel", "prototxt", "m.caffemodel"),
    ("h5-as-pt2", "h5", "m.pt2"),
    ("state-dict-as-pt2", "torch_sd", "m.pt2"),
    ("safetensors-as-caffemodel", "nnir", "m.caffemodel"),
]


@pytest.mark.parametrize("name,key,as_name", MISLABELLED, ids=[m[0] for m in MISLABELLED])
def test_file_of_another_format(valid, tmp_path, name, key, as_name):
    src_file = valid[key] / "weights.safetensors" if key == "nnir" else valid[key]
    work = tmp_path / "in"
    work.mkdir()
    dst = work / as_name
    shutil.copyfile(src_file, dst)
    run_case(tmp_path, dst)


def test_folder_given_as_a_file(valid, tmp_path):
    work = tmp_path / "in"
    shutil.copytree(valid["nnir"], work / "m.keras")
    run_case(tmp_path, work / "m.keras")


def test_missing_weights(valid, tmp_path):
    alone = tmp_path / "alone"  # without the m.caffemodel beside it, which would be picked up
    alone.mkdir()
    shutil.copyfile(valid["prototxt"], alone / "m.prototxt")
    r = run_case(tmp_path, alone / "m.prototxt")
    assert "no caffemodel given" in r.output and "--weights" in r.output
    nnir = tmp_path / "noweights.nnir"
    shutil.copytree(valid["nnir"], nnir)
    (nnir / "weights.safetensors").unlink()
    run_case(tmp_path, nnir)
    keras_file = tmp_path / "noweights.keras"
    with zipfile.ZipFile(valid["keras"]) as zin, zipfile.ZipFile(keras_file, "w") as zout:
        for info in zin.infolist():
            if info.filename != "model.weights.h5":
                zout.writestr(info, zin.read(info))
    assert "model.weights.h5" in run_case(tmp_path, keras_file).output


def test_partial_state_dict(valid, tmp_path):
    import torch

    sd = torch.load(valid["torch_sd"], weights_only=True)
    sd.pop("fc.bias")
    path = tmp_path / "partial.pt"
    torch.save(sd, path)
    r = run_case(tmp_path, f"{valid['torch_py']}:build", "--weights", path)
    assert "fc.bias" in r.output


def test_state_dict_shape_mismatch(valid, tmp_path):
    import torch

    sd = torch.load(valid["torch_sd"], weights_only=True)
    sd["fc.weight"] = torch.zeros(3, 4)
    path = tmp_path / "wrong.pt"
    torch.save(sd, path)
    r = run_case(tmp_path, f"{valid['torch_py']}:build", "--weights", path)
    assert "fc.weight" in r.output


def test_caffemodel_of_another_net(valid, tmp_path):
    text = valid["prototxt"].read_text()
    assert "num_output: 4" in text
    other = tmp_path / "other.prototxt"
    other.write_text(text.replace("num_output: 4", "num_output: 5"))
    r = run_case(tmp_path, other, "--weights", valid["caffemodel"])
    assert "weights" in r.output and "(5, 3, 3, 3)" in r.output


def test_keras_weights_of_wrong_shape(valid, tmp_path):
    import h5py

    path = tmp_path / "wrong.h5"
    shutil.copyfile(valid["h5"], path)
    with h5py.File(path, "r+") as f:
        names = []
        f["model_weights"].visititems(lambda n, o: names.append(o.name) if isinstance(o, h5py.Dataset) else None)
        kernel = next(n for n in names if "kernel" in n)
        shape = f[kernel].shape
        del f[kernel]
        f[kernel] = np.zeros(shape[:-1] + (shape[-1] + 1,), np.float32)
    r = run_case(tmp_path, path)
    assert "do not match" in r.output


def test_nnir_weight_of_wrong_shape(valid, tmp_path):
    from convert.ir import safetensors

    nnir = tmp_path / "wrong.nnir"
    shutil.copytree(valid["nnir"], nnir)
    w = dict(safetensors.read(nnir / "weights.safetensors", mmap=False))
    w["w"] = np.zeros((4, 3, 2, 2), np.float32)
    safetensors.write(nnir / "weights.safetensors", w)
    run_case(tmp_path, nnir)


def test_torch_factory_with_a_syntax_error(valid, tmp_path):
    py = tmp_path / "broken_model.py"
    text = valid["torch_py"].read_text()
    py.write_text(text[:len(text) // 2])
    r = run_case(tmp_path, f"{py}:build")
    assert "importing it failed" in r.output


# -- NaN / Inf weights: converted, with a warning ------------------------------------
def test_nan_inf_weights_convert_with_a_warning(tmp_path):
    src = nan_nnir(tmp_path)
    out = tmp_path / "out.onnx"
    r = cli("convert", src, "-o", out)
    assert r.exit_code == 0, r.output
    assert out.exists()
    warn = [line for line in r.output.splitlines() if line.startswith("warning:")]
    assert warn == ["warning: weight 'w' holds 1 NaN and 1 Inf value(s) of 108"], r.output


def test_nan_weights_in_a_caffemodel_warn(valid, tmp_path):
    raw = bytearray(valid["caffemodel"].read_bytes())
    start, _ = _caffemodel_weight_span(valid)
    raw[start:start + 4] = struct.pack("<f", float("nan"))
    cm = tmp_path / "nan.caffemodel"
    cm.write_bytes(bytes(raw))
    out = tmp_path / "out.onnx"
    r = cli("convert", valid["prototxt"], "--weights", cm, "-o", out)
    assert r.exit_code == 0, r.output
    assert out.exists() and "warning: weight" in r.output and "1 NaN" in r.output


def test_check_reports_warnings_too(tmp_path):
    r = cli("check", nan_nnir(tmp_path))
    assert r.exit_code == 0 and "warning: weight 'w'" in r.output



@pytest.mark.parametrize("damage", ["empty", "random", "truncated", "no-factory", "not-a-module"])
def test_torch_factory_file(valid, tmp_path, damage):
    text = valid["torch_py"].read_text()
    content = {"empty": "", "random": np.random.default_rng(1).bytes(300).decode("latin-1"),
               "truncated": text[:len(text) // 3], "no-factory": text.replace("def build", "def other"),
               "not-a-module": text + "\ndef build():\n    return 42\n"}[damage]
    py = tmp_path / "factory_model.py"
    py.write_text(content, encoding="latin-1")
    run_case(tmp_path, f"{py}:build")
