""".pt2 archives written by other torch releases (fixtures/torch_versions/, made by its
make_pt2.py under torch 2.6.0 and 2.15.0), read by the archive reader with torch's own
recorded outputs as the oracle; and the older layout's pickled tensor index refused
whenever it reaches beyond a plain dict of tensors."""
from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from convert.errors import ModelLoadError
from convert.importers.torch.loader import _load_pt2
from convert.importers.torch.pt2_archive import read_pt2

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "torch_versions"
ARCHIVES = sorted(p.stem for p in FIXTURES.glob("*.pt2"))
RTOL = ATOL = 1e-4
WRITERS = {"t26": "2.6.0", "t215": "2.15.0"}


def _onnx_runner(graph, path: Path):
    import onnxruntime as ort

    from convert import export

    export(graph, str(path), force=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {sess.get_inputs()[0].name: x})[0]


def test_every_writer_is_present():
    assert {a.split("_")[0] for a in ARCHIVES} == set(WRITERS) and len(ARCHIVES) == 3 * len(WRITERS)


@pytest.mark.parametrize("name", ARCHIVES)
def test_archive_matches_the_recorded_torch_outputs(tmp_path, name):
    tag, model = name.split("_", 1)
    lm = _load_pt2(FIXTURES / f"{name}.pt2")
    assert lm.graph.metadata["torch_version"] == WRITERS[tag]
    assert (lm.graph.inputs[0].shape[0] == "batch") == (model == "dynbatch")
    ref = np.load(FIXTURES / f"{name}.npz")
    run = _onnx_runner(lm.graph, tmp_path / "m.onnx")
    for x, y in (("x", "y"), ("x2", "y2")):  # dynbatch: x2 has another batch size
        np.testing.assert_allclose(run(ref[x]), ref[y], rtol=RTOL, atol=ATOL * max(1.0, np.abs(ref[y]).max()))
    # signal: another input, and a 1% change to a middle weight, move the output far past the tolerance
    assert np.abs(run(-ref["x"]) - ref["y"]).max() > 100 * ATOL
    mats = [n.inputs[1] for n in lm.graph.nodes
            if n.op in ("Conv", "Gemm", "MatMul") and n.inputs[1] in lm.graph.weights]
    middle = mats[len(mats) // 2]
    lm.graph.weights[middle] = lm.graph.weights[middle] * np.float32(1.01)
    assert np.abs(_onnx_runner(lm.graph, tmp_path / "p.onnx")(ref["x"]) - ref["y"]).max() > 10 * ATOL


# -- the older layout's pickled tensor index (torch 2.6) ----------------------------------

def _with_state_dict(tmp_path: Path, pkl: bytes, storages: dict[str, bytes] | None = None) -> Path:
    """t26_cnn.pt2 with its serialized_state_dict.pt replaced by a torch.save-style zip
    holding ``pkl`` as the index and ``storages`` as its data members."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        for key, data in (storages or {}).items():
            z.writestr(f"archive/data/{key}", data)
    dst = tmp_path / "edited.pt2"
    with zipfile.ZipFile(FIXTURES / "t26_cnn.pt2") as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = inner.getvalue() if info.filename == "serialized_state_dict.pt" else zin.read(info)
            zout.writestr(info.filename, data)
    return dst


def _tensor_pickle(size: tuple, numel: int, module: str = "torch._utils", name: str = "_rebuild_tensor_v2") -> bytes:
    """A protocol-2 index {'conv1.weight': tensor} spelled as torch.save spells it."""
    stor = b"ctorch\nFloatStorage\n"
    shape = b"(" + b"".join(b"K" + bytes([d]) for d in size) + b"t"
    strides = [int(np.prod(size[i + 1:])) for i in range(len(size))]
    stride = b"(" + b"".join(b"K" + bytes([d]) for d in strides) + b"t"
    pid = b"(X\x07\x00\x00\x00storage" + stor + b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuJ" + \
        numel.to_bytes(4, "little") + b"tQ"
    hooks = b"ccollections\nOrderedDict\n)R"  # backward_hooks: an empty OrderedDict
    call = f"c{module}\n{name}\n".encode() + b"(" + pid + b"K\x00" + shape + stride + b"\x89" + hooks + b"tR"
    return b"\x80\x02}X\x0c\x00\x00\x00conv1.weight" + call + b"s."


def test_torch_save_zips_read_as_torch_wrote_them():
    """Parameters, a transposed view, a view at a storage offset and several dtypes, as
    torch.save writes them, read back equal to the tensors saved."""
    import torch

    from convert.importers.torch import pt2_legacy
    from convert.importers.torch.pt2_archive import stored_tensor

    base = torch.arange(24.0).reshape(4, 6)
    tensors = {"p": torch.nn.Parameter(torch.randn(3, 2)), "t": base.t(), "view": base[1:, 2:4],
               "half": torch.randn(5).half(), "long": torch.arange(-3, 4), "flag": torch.tensor([True, False])}
    buf = io.BytesIO()
    torch.save(tensors, buf)
    got = pt2_legacy.read_tensor_zip("mem.pt2", buf.getvalue(), "state",
                                     lambda *a: stored_tensor("mem.pt2", *a))
    assert got.keys() == tensors.keys()
    for k, t in tensors.items():
        np.testing.assert_array_equal(got[k], t.detach().numpy())
        assert got[k].dtype == t.detach().numpy().dtype


def test_a_plain_index_reads(tmp_path):
    data = np.arange(6, dtype=np.float32)
    a = read_pt2(_with_state_dict(tmp_path, _tensor_pickle((2, 3), 6), {"0": data.tobytes()}))
    np.testing.assert_array_equal(a.state_dict["conv1.weight"], data.reshape(2, 3))


@pytest.mark.parametrize("pkl, problem", [
    (b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R.", "posix.system"),
    (_tensor_pickle((2, 3), 6, "builtins", "eval"), "builtins.eval"),
    (b"\x80\x02]q\x00.", "not a dict of tensors"),
    (b"\x80\x02}X\x01\x00\x00\x00aK\x05s.", "is not a tensor"),
    (b"\x80\x02(cposix\nsystem\nX\x04\x00\x00\x00trueo.", "opcode OBJ"),
    (b"\x80\x02\x82\x01.", "opcode EXT1"),
    (b"\x80\x02X\xff\xff\xff\x7f.", "malformed"),
], ids=["global-system", "global-eval", "list", "not-a-tensor", "obj", "ext", "huge-length"])
def test_the_index_is_refused(tmp_path, pkl, problem):
    with pytest.raises(ModelLoadError, match="serialized_state_dict.pt: ") as e:
        read_pt2(_with_state_dict(tmp_path, pkl, {"0": bytes(24)}))
    assert problem in str(e.value)


def test_a_tensor_larger_than_its_storage_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match=r"needs 200 elements but the archive holds 6"):
        read_pt2(_with_state_dict(tmp_path, _tensor_pickle((10, 20), 200), {"0": bytes(24)}))
