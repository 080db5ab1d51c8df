"""Progress while a model is written: a bar per weight on a terminal, nothing on a pipe
(the mechanism verification uses), and the API's callback sees every weight, layer or
tensor each writer puts in its output."""
import numpy as np
import pytest

from convert.api import convert_file
from convert.ir import GraphBuilder, Source, save
from cli_process import nnconvert

N_LAYERS = 12


def mlp_graph():
    """A chain of Gemm + Relu layers (a 4 KB matrix and a bias each)."""
    rng = np.random.default_rng(0)
    b = GraphBuilder("mlp", "test")
    b.source = Source("test", "Layer", "mlp")
    y = b.input("x", shape=("batch", 32))
    for i in range(N_LAYERS):
        w = b.weight(f"w{i}", (rng.standard_normal((32, 32)) / 6).astype(np.float32))
        c = b.weight(f"c{i}", rng.standard_normal(32).astype(np.float32))
        y = b.op("Relu", b.op("Gemm", y, w, c, transB=1))
    b.output(y)
    return b.finish()


@pytest.fixture(scope="module")
def nnir(tmp_path_factory):
    path = tmp_path_factory.mktemp("progress") / "mlp.nnir"
    save(mlp_graph(), path)
    return path


@pytest.mark.parametrize("external", [False, True], ids=["inline", "external-data"])
def test_api_progress_sees_every_weight(nnir, tmp_path, external):
    calls = []
    convert_file(str(nnir), str(tmp_path / "m.onnx"), writer_options={"external": external},
                 progress=lambda done, total: calls.append((done, total)))
    totals = {t for _, t in calls}
    assert len(totals) == 1 and totals.pop() >= N_LAYERS, calls
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and calls[-1][0] == calls[-1][1], calls


def test_writing_bar_on_a_terminal_nothing_on_a_pipe(nnir, tmp_path):
    args = ("convert", nnir, "-o", tmp_path / "m.onnx", "--force", "--no-optimize")
    piped = nnconvert(*args)
    assert piped.returncode == 0, piped.stderr
    assert "» writing" not in piped.stderr and "\r" not in piped.stderr and "%" not in piped.stderr, piped.stderr
    assert "wrote " in piped.stderr
    tty = nnconvert(*args, tty_stderr=True)
    assert tty.returncode == 0, tty.stderr
    assert "» writing onnx" in tty.stderr and "100%" in tty.stderr, tty.stderr


# Per target: (output name, to_fmt, what the writer counts, how many of them the MLP has).
WRITERS = {
    "nnir": ("m.nnir", None, "tensor", 2 * N_LAYERS),
    "torch-pt2": ("m.pt2", None, "weight (+ the archive)", 2 * N_LAYERS + 1),
    "torch-source": ("m.py", "torch-source", "tensor", 2 * N_LAYERS),
    "keras": ("m.keras", None, "layer with weights", N_LAYERS),
    "caffe": ("m.prototxt", None, "layer", 2 * N_LAYERS + 1),  # Input, InnerProduct + ReLU each
    "tflite": ("m.tflite", None, "tensor buffer", 2 * N_LAYERS),
}


@pytest.mark.parametrize("target", list(WRITERS))
def test_every_writer_reports_each_item_written(nnir, tmp_path, target):
    name, to_fmt, _, expected = WRITERS[target]
    calls = []
    result = convert_file(str(nnir), str(tmp_path / name), to_fmt=to_fmt, optimize=False,
                          progress=lambda done, total: calls.append((done, total)))
    assert all(p.exists() for p in result.files), result.files
    assert {t for _, t in calls} == {expected}, calls
    assert [d for d, _ in calls] == list(range(1, expected + 1)), calls  # one call per item, in order


@pytest.mark.parametrize("target", list(WRITERS))
def test_every_writer_silent_on_a_pipe(nnir, tmp_path, capsys, target):
    """The command line's own callback, in process (a CLI run per target would start the
    frameworks again each time; the ONNX case above runs the real command)."""
    from convert.cli.commands import _progress

    name, to_fmt, _, expected = WRITERS[target]
    seen = []
    bar = _progress("writing")

    def cb(done, total):
        seen.append(done)
        bar(done, total)

    convert_file(str(nnir), str(tmp_path / name), to_fmt=to_fmt, optimize=False, progress=cb)
    assert seen[-1] == expected, seen
    assert capsys.readouterr().err == ""
