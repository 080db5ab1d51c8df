"""HDF5 weights (.keras, legacy .h5) read only their own bytes and each object once:
external storage, external links, virtual datasets, soft links leaving the weights group,
plugin filters and hard-link DAGs are refused (exit 3, one line naming the file)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from hostile import assert_refused, nnconvert
from hostile_files import KERNEL, dense_reference, write_h5, write_keras

K3_KERNEL = "layers/dense/vars/0"
H5_KERNEL = "model_weights/dense/dense/kernel:0"


@pytest.fixture(scope="module")
def secrets(tmp_path_factory):
    """Files elsewhere on the machine that a hostile model would pull into its weights."""
    import h5py

    d = tmp_path_factory.mktemp("secrets")
    raw = d / "secret.bin"
    raw.write_bytes(KERNEL.tobytes())
    h5 = d / "secret.h5"
    with h5py.File(h5, "w") as f:
        f["data"] = KERNEL
    return {"raw": raw, "h5": h5}


def _replace(name: str, make):
    def edit(f):
        del f[name]
        make(f, name)
    return edit


def external_storage(secrets):
    return lambda f, n: f.create_dataset(n, shape=KERNEL.shape, dtype="f4",
                                         external=[(str(secrets["raw"]), 0, KERNEL.nbytes)])


def external_link(secrets):
    import h5py

    def make(f, n):
        f[n] = h5py.ExternalLink(str(secrets["h5"]), "/data")
    return make


def virtual(secrets):
    import h5py

    def make(f, n):
        layout = h5py.VirtualLayout(shape=KERNEL.shape, dtype="f4")
        layout[:] = h5py.VirtualSource(str(secrets["h5"]), "data", shape=KERNEL.shape)
        f.create_virtual_dataset(n, layout)
    return make


def soft_link_out(_secrets):
    import h5py

    def make(f, n):
        f["elsewhere/kernel"] = KERNEL
        f[n] = h5py.SoftLink("/elsewhere/kernel")
    return make


CASES = {  # (container, kernel path, how it is replaced, what the error says)
    "keras-external-storage": ("keras", external_storage, "another file"),
    "keras-external-link": ("keras", external_link, "external link"),
    "keras-virtual-dataset": ("keras", virtual, "virtual dataset"),
    "h5-external-storage": ("h5", external_storage, "another file"),
    "h5-external-link": ("h5", external_link, "external link"),
    "h5-virtual-dataset": ("h5", virtual, "virtual dataset"),
    "h5-soft-link-out-of-weights": ("h5", soft_link_out, "soft link leaving"),
}


def _file(tmp_path: Path, container: str, edit) -> Path:
    if container == "keras":
        return write_keras(tmp_path / "evil.keras", edit)
    return write_h5(tmp_path / "evil.h5", edit)


def test_plain_files_convert_and_compute(tmp_path):
    """Control: the hand-written files are valid and carry their weights."""
    import onnxruntime as ort

    x = np.random.default_rng(5).standard_normal((2, 4)).astype(np.float32)
    for src in (write_keras(tmp_path / "ok.keras"), write_h5(tmp_path / "ok.h5")):
        out = tmp_path / f"{src.suffix[1:]}.onnx"
        r = nnconvert("convert", src, "-o", out)
        assert r.code == 0, r.stderr
        s = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = s.run(None, {s.get_inputs()[0].name: x})[0]
        np.testing.assert_allclose(got, dense_reference(x), rtol=1e-5, atol=1e-5)
        assert np.abs(got - dense_reference(x + 1)).max() > 0.1


@pytest.mark.parametrize("case", list(CASES))
def test_weights_from_other_files_are_refused(tmp_path, secrets, case):
    container, how, says = CASES[case]
    src = _file(tmp_path, container, _replace(K3_KERNEL if container == "keras" else H5_KERNEL, how(secrets)))
    out = tmp_path / "out"
    commands = [["convert", src, "-o", out / "m.onnx"]]
    if case == "keras-external-storage":  # every command reads through the same walker: once is enough
        commands += [["check", src], ["inspect", src]]
    for command in commands:
        r = nnconvert(*command, seconds=60)
        assert_refused(r, src, out_dir=out, says=says)


def test_plugin_filter_is_refused(tmp_path):
    """A filter id HDF5 would look up as a plugin library: refused before any read."""
    def edit(f):
        del f[K3_KERNEL]
        f.create_dataset(K3_KERNEL, shape=KERNEL.shape, dtype="f4", chunks=KERNEL.shape, compression=307,
                         allow_unknown_filter=True)

    src = write_keras(tmp_path / "plugin.keras", edit)
    out = tmp_path / "out"
    assert_refused(nnconvert("convert", src, "-o", out / "m.onnx"), src, out_dir=out, says="filter plugin 307")


def test_hard_link_dag_is_walked_once(tmp_path):
    """Groups linking twice to the next, 40 deep: 2^40 paths, 41 objects. Each object is
    visited once, so the answer comes at once (a tree walk would run for hours)."""
    def edit(f):
        nodes = [f.create_group(f"dag/n{i}") for i in range(41)]
        for a, b in zip(nodes, nodes[1:]):
            a["left"], a["right"] = b, b
        f["layers/dense/extra"] = nodes[0]

    src = write_keras(tmp_path / "dag.keras", edit)
    out = tmp_path / "out"
    t0 = time.monotonic()
    r = nnconvert("convert", src, "-o", out / "m.onnx", seconds=60)
    assert_refused(r, src, out_dir=out, says="more than one place")
    assert time.monotonic() - t0 < 60
