"""Sizes read from tensor values in the .pt2, Keras and LiteRT targets: a run-time Expand
shape, NonZero, Unique and NonMaxSuppression, each written, loaded back from its file and
run on inputs of other sizes, compared exactly with onnxruntime on the source model."""
from __future__ import annotations

import glob
import os

import numpy as np
import pytest
from click.testing import CliRunner

import convert

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto as T, helper, numpy_helper  # noqa: E402
from onnx_run import assert_same, run_ort  # noqa: E402

SHIPPED = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "simple")


def _model(node, inputs, out_types, inits=()):
    g = helper.make_graph([node], node.op_type, inputs,
                          [helper.make_tensor_value_info(o, t, None) for o, t in zip(node.output, out_types)],
                          initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _expand_model(k: int):
    """The onnx wheel's Expand model k: X (1, 3, 1) expanded to a shape fed as a graph input."""
    return onnx.load(glob.glob(os.path.join(SHIPPED, f"test_expand_shape_model{k}", "model.onnx"))[0])


def _expand_feeds(k: int, seed: int, tail: list[int]) -> dict:
    n = {1: 2, 2: 2, 3: 3, 4: 4}[k]
    lead = [2, 3][:n - 2]
    return {"X": np.random.default_rng(seed).standard_normal((1, 3, 1)).astype(np.float32),
            "shape": np.array(lead + tail, np.int64)}


def _rand_ints(seed: int, shape, hi: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, hi, shape).astype(np.float32)


def _nms_model(n):
    inits = [numpy_helper.from_array(np.array([3], np.int64), "max"),
             numpy_helper.from_array(np.array([0.3], np.float32), "iou")]
    return _model(helper.make_node("NonMaxSuppression", ["boxes", "scores", "max", "iou"], ["selected"]),
                  [helper.make_tensor_value_info("boxes", T.FLOAT, [1, n, 4]),
                   helper.make_tensor_value_info("scores", T.FLOAT, [1, 2, n])], [T.INT64], inits)


def _nms_feeds(seed: int, n: int) -> dict:
    rng = np.random.default_rng(seed)
    c, wh = rng.uniform(0, 1.5, (1, n, 2)), rng.uniform(0.5, 2.5, (1, n, 2))  # crowded: boxes overlap
    return {"boxes": np.concatenate([c - wh / 2, c + wh / 2], -1).astype(np.float32),
            "scores": rng.random((1, 2, n)).astype(np.float32)}


def _vi(name, dims):
    return helper.make_tensor_value_info(name, T.FLOAT, dims)


# name -> (model, two feeds; the second of other sizes where the model leaves a size open)
PT2 = {
    "nonzero": lambda: (_model(helper.make_node("NonZero", ["x"], ["y"]), [_vi("x", ["n", 5])], [T.INT64]),
                        [{"x": _rand_ints(0, (3, 5), 3) - 1}, {"x": _rand_ints(1, (7, 5), 3) - 1}]),
    "unique": lambda: (_model(helper.make_node("Unique", ["x"], ["y", "i", "v", "c"], sorted=0), [_vi("x", ["n"])],
                              [T.FLOAT] + [T.INT64] * 3), [{"x": _rand_ints(0, (9,), 4)}, {"x": _rand_ints(1, (13,), 9)}]),
    "unique-axis": lambda: (_model(helper.make_node("Unique", ["x"], ["y", "i", "v", "c"], sorted=1, axis=0),
                                   [_vi("x", ["n", 3])], [T.FLOAT] + [T.INT64] * 3),
                            [{"x": _rand_ints(0, (9, 3), 2)}, {"x": _rand_ints(1, (13, 3), 2)}]),
    "expand": lambda: (_expand_model(4), [_expand_feeds(4, 0, [3, 1]), _expand_feeds(4, 1, [1, 5])]),
    "nms-static-boxes": lambda: (_nms_model(8), [_nms_feeds(0, 8), _nms_feeds(1, 8)]),
    "nms-open-boxes": lambda: (_nms_model("n"), [_nms_feeds(0, 6), _nms_feeds(1, 11)]),
}


def _invoke(*args):
    from convert.cli.main import main

    return CliRunner().invoke(main, [str(a) for a in args])


def _run_pt2(path, feeds: dict) -> list:
    program = torch.export.load(str(path)).module()
    with torch.no_grad():
        out = program(*[torch.from_numpy(v) for v in feeds.values()])
    return [o.numpy() for o in (out if isinstance(out, (tuple, list)) else [out])]


@pytest.mark.parametrize("case", list(PT2))
def test_pt2_takes_sizes_read_from_values(case, tmp_path):
    """Written by the CLI, loaded with torch.export.load, run on both feeds: exactly
    onnxruntime's outputs, whose sizes differ between the feeds."""
    model, feeds = PT2[case]()
    onnx.save(model, tmp_path / "m.onnx")
    r = _invoke("convert", tmp_path / "m.onnx", "-o", tmp_path / "m.pt2")
    assert r.exit_code == 0, r.output
    got = [_run_pt2(tmp_path / "m.pt2", f) for f in feeds]
    want = [run_ort(model, f) for f in feeds]
    for g, w in zip(got, want):
        assert_same(g, w)
    # the check can fail: the two feeds give different results
    assert any(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(want[0], want[1]))


def test_pt2_expand_checks_the_shape_at_run_time(tmp_path):
    """A shape entry that cannot broadcast against the input's 3 fails in the program, as in onnxruntime."""
    graph = convert.from_onnx(_expand_model(3))
    from convert.exporters import torch as torch_export

    torch_export.save(graph, tmp_path / "m.pt2")
    bad = _expand_feeds(3, 0, [4, 5])
    with pytest.raises(Exception):
        run_ort(_expand_model(3), bad)
    with pytest.raises(RuntimeError):
        _run_pt2(tmp_path / "m.pt2", bad)


REFUSED = {  # what torch.export cannot record for other sizes: refused by node name
    "nms-open-boxes-old-torch": (lambda: _nms_model("n"), "NonMaxSuppression", "cannot record that loop"),
    "expand-open-input": (lambda: _model(helper.make_node("Expand", ["x", "shape"], ["y"], name="grow"),
                                         [_vi("x", ["n", 1]), helper.make_tensor_value_info("shape", T.INT64, [2])],
                                         [T.FLOAT]), "grow", "input's size is open"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_pt2_refuses_by_name_before_writing(case, tmp_path, monkeypatch):
    from convert.exporters.torch import pt2_limits

    monkeypatch.setattr(pt2_limits, "WHILE_LOOP_EXPORTS", (99, 0))  # as on a torch before 2.13
    build, name, why = REFUSED[case]
    onnx.save(build(), tmp_path / "m.onnx")
    r = _invoke("convert", tmp_path / "m.onnx", "-o", tmp_path / "m.pt2")
    assert r.exit_code == 3, r.output
    assert name in r.output and why in r.output and "torch.export" in r.output and "Traceback" not in r.output
    assert not list(tmp_path.glob("m.pt2*")) and not list(tmp_path.glob(".nnconvert-*"))
    # the torch source still runs it
    assert _invoke("convert", tmp_path / "m.onnx", "-o", tmp_path / "m.py").exit_code == 0


@pytest.fixture(scope="module")
def expand_keras_files(tmp_path_factory):
    """The four shipped Expand models written to .keras by the CLI, once per module."""
    folder = tmp_path_factory.mktemp("keras")
    for k in (1, 2, 3, 4):
        onnx.save(_expand_model(k), folder / f"m{k}.onnx")
        r = _invoke("convert", folder / f"m{k}.onnx", "-o", folder / f"m{k}.keras")
        assert r.exit_code == 0, r.output
    return folder


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_keras_expand_to_a_shape_read_at_run_time(k, expand_keras_files):
    """Loaded with safe_mode=True (no Lambda, no custom class), run on shapes that grow,
    keep or empty the axes: exactly onnxruntime's outputs, sizes included."""
    keras = pytest.importorskip("keras")
    model = keras.saving.load_model(str(expand_keras_files / f"m{k}.keras"), safe_mode=True)
    assert not any(type(layer).__name__ == "Lambda" for layer in model.layers)
    outs = []
    for seed, tail in enumerate(([3, 1], [1, 4], [3, 5], [3, 0])):
        feeds = _expand_feeds(k, seed, tail)
        (want,) = run_ort(_expand_model(k), feeds)
        got = np.asarray(model([feeds["X"], feeds["shape"]]))
        assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)
        outs.append(got)
    assert outs[1].shape != outs[2].shape  # the check can fail: the shape operand sets the size
    with pytest.raises(Exception):  # 4 cannot broadcast against the input's 3, as in onnxruntime
        model([_expand_feeds(k, 0, [4, 5])["X"], _expand_feeds(k, 0, [4, 5])["shape"]])


@pytest.mark.parametrize("k", [1, 3, 4])
def test_litert_expand_to_a_shape_read_at_run_time(k, tmp_path):
    """BROADCAST_TO the sizes BROADCAST_ARGS reads from the shape tensor, in the LiteRT
    interpreter: exactly onnxruntime's outputs for shapes that grow or keep the axes
    (a zero-size output is left out: the interpreter's Python API cannot read one)."""
    pytest.importorskip("ai_edge_litert")
    from convert.exporters.tflite.runner import runner

    onnx.save(_expand_model(k), tmp_path / "m.onnx")
    r = _invoke("convert", tmp_path / "m.onnx", "-o", tmp_path / "m.tflite")
    assert r.exit_code == 0, r.output
    run = runner(str(tmp_path / "m.tflite"), graph=convert.from_onnx(_expand_model(k)))
    outs = []
    for seed, tail in enumerate(([3, 1], [1, 4], [3, 5])):
        feeds = _expand_feeds(k, seed, tail)
        (want,) = run_ort(_expand_model(k), feeds)
        (got,) = run(feeds).values()
        assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)
        outs.append(got)
    assert outs[1].shape != outs[2].shape  # the check can fail: the shape operand sets the size
    # (not fed a shape that cannot broadcast: LiteRT's BROADCAST_ARGS aborts the process on one)


def test_litert_expand_to_a_constant_shape_broadcasts_both_ways(tmp_path):
    """A stored shape whose 1 keeps the input's 3 and whose 4 grows the input's 1."""
    pytest.importorskip("ai_edge_litert")
    from convert.exporters.tflite.runner import runner

    model = _model(helper.make_node("Expand", ["x", "shape"], ["y"]), [_vi("x", ["n", 3, 1])], [T.FLOAT],
                   [numpy_helper.from_array(np.array([1, 1, 4], np.int64), "shape")])
    graph = convert.from_onnx(model)
    assert len(graph.nodes[0].inputs) == 1 or not graph.nodes[0].inputs[1], "a constant shape is an attribute"
    onnx.save(model, tmp_path / "m.onnx")
    assert _invoke("convert", tmp_path / "m.onnx", "-o", tmp_path / "m.tflite").exit_code == 0
    run = runner(str(tmp_path / "m.tflite"), graph=graph)
    for n in (2, 5):
        feeds = {"x": np.random.default_rng(n).standard_normal((n, 3, 1)).astype(np.float32)}
        (want,) = run_ort(model, feeds)
        (got,) = run(feeds).values()
        assert want.shape == (n, 3, 4) and got.shape == want.shape and np.array_equal(got, want)
