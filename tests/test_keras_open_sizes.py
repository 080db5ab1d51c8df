"""Keras models with an open spatial size: 'same' padding with stride 2 becomes
auto_pad=SAME_UPPER, pooling and upsampling keep the size open, Reshape/Flatten after
global pooling work; ONNX, Keras and torch targets are exact at several sizes (torch
computes the pads from the size in forward), Caffe refuses with the reason, and --verify runs two spatial sizes."""
from __future__ import annotations

import numpy as np
import pytest

from keras_cases import keras
from keras_signal import assert_moves, give_signal, scaled_kernel_output, tolerance

SIZES = [(1, 17, 22), (3, 24, 31), (2, 13, 10)]  # odd and even sizes: 'same' pads differ between them


def _open_model():
    k = keras()
    L = k.layers
    x = k.Input((None, None, 3), name="image")
    y = L.Conv2D(8, 3, strides=2, padding="same", name="stem")(x)
    y = L.BatchNormalization(name="stem_bn")(y)
    y = L.ReLU(name="stem_relu")(y)
    y = L.DepthwiseConv2D(5, strides=2, padding="same", name="dw")(y)
    a = L.MaxPooling2D(3, strides=2, padding="same", name="maxpool")(y)
    b = L.AveragePooling2D(2, strides=2, padding="same", name="avgpool")(y)
    y = L.Concatenate(name="cat")([a, b])
    y = L.SeparableConv2D(6, 3, strides=1, padding="same", name="sep")(y)
    up = L.UpSampling2D(2, name="up")(y)
    up = L.Conv2D(4, 3, padding="valid", name="after_up")(up)
    g = L.GlobalAveragePooling2D(keepdims=True, name="gap")(up)
    g = L.Reshape((4,), name="reshape")(g)
    f = L.Flatten(name="flatten")(L.GlobalMaxPooling2D(keepdims=True, name="gmp")(y))
    out = L.Dense(5, name="logits")(L.Concatenate(name="head")([g, f]))
    return k.Model(x, out)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    k = keras()
    k.utils.set_random_seed(0)
    model = _open_model()
    give_signal(model, np.random.default_rng(0).standard_normal((6, 20, 26, 3)).astype("float32"))
    d = tmp_path_factory.mktemp("open")
    model.save(d / "m.keras")
    return model, d


def _x(shape, seed=1):
    return np.random.default_rng(seed).standard_normal((*shape, 3)).astype("float32")


def test_open_size_becomes_same_upper(saved):
    import convert

    graph = convert.from_keras(saved[1] / "m.keras")
    modes = {n.name: n.attrs.get("auto_pad") for n in graph.nodes if n.op in ("Conv", "MaxPool", "AveragePool")}
    assert modes["stem"] == modes["dw"] == modes["maxpool"] == modes["avgpool"] == "SAME_UPPER"
    assert modes["sep/pointwise"] is None and "pads" in next(n for n in graph.nodes if n.name == "sep").attrs


@pytest.mark.parametrize("shape", SIZES, ids=lambda s: "x".join(map(str, s)))
def test_onnx_matches_keras_at_any_size(saved, shape):
    from helpers import run_onnx

    import convert

    model, d = saved
    graph = convert.from_keras(d / "m.keras")
    x = _x(shape)
    got = run_onnx(graph, {graph.inputs[0].name: x})[graph.outputs[0].name]
    want = np.asarray(model(x, training=False))
    np.testing.assert_allclose(got, want, rtol=0, atol=tolerance(want))
    assert_moves(want, np.asarray(model(_x(shape, seed=2), training=False)), "another input")
    assert_moves(want, scaled_kernel_output(model, x), "a 1% change to a middle kernel")


def test_keras_target_keeps_the_size_open(saved, tmp_path):
    import convert

    model, d = saved
    convert.export(convert.from_keras(d / "m.keras"), tmp_path / "out.keras")
    k = keras()
    back = k.saving.load_model(tmp_path / "out.keras", compile=False)
    for shape in SIZES[:2]:
        x = _x(shape)
        want = np.asarray(model(x, training=False))
        np.testing.assert_allclose(np.asarray(back(x, training=False)), want, rtol=0, atol=tolerance(want))


def test_fixed_pad_target_refuses_with_the_reason(saved, tmp_path):
    import convert
    from convert.errors import UnsupportedError

    with pytest.raises(UnsupportedError) as e:
        convert.export(convert.from_keras(saved[1] / "m.keras"), tmp_path / "deploy.prototxt")
    msg = str(e.value)
    assert "auto_pad" in msg and "stem" in msg and "fixed spatial size" in msg
    assert not list(tmp_path.iterdir())  # nothing written


def test_torch_target_pads_at_run_time(saved, tmp_path):
    """torch pads by fixed amounts: the generated forward computes each 'same' pad from the
    input's size, so one module (and one .pt2 with open sizes) matches Keras at odd and even
    sizes (stride 2 convolution, depthwise, max pooling with -inf pads, average pooling that
    leaves its pads out of the count)."""
    import torch

    import convert
    from convert.exporters.torch.export import to_torch

    model, d = saved
    graph = convert.from_keras(d / "m.keras")
    module = to_torch(convert.optimize(graph))
    assert "% 2" in module.nnconvert_source  # the pads follow the size
    convert.export(graph, tmp_path / "m.pt2")
    program = torch.export.load(tmp_path / "m.pt2").module()
    for i, shape in enumerate(SIZES):
        x = _x(shape)
        want = np.asarray(model(x, training=False))
        with torch.no_grad():
            got = module(torch.from_numpy(x)).numpy()
            np.testing.assert_allclose(got, want, rtol=0, atol=tolerance(want))
            if i < 2:
                got = program(torch.from_numpy(x)).numpy()
                np.testing.assert_allclose(got, want, rtol=0, atol=tolerance(want))


def test_verify_runs_two_spatial_sizes(saved, tmp_path):
    import convert

    res = convert.convert_file(str(saved[1] / "m.keras"), str(tmp_path / "m.onnx"), verify=True)
    shapes = {tuple(r.shapes["image"][1:3]) for r in res.report.runs}
    assert len(shapes) == 2 and res.report.ok, shapes
