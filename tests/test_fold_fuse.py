"""Cheaper forms with the same numbers: fold-affine (Mul/Add by per-channel constants
into the Conv/Gemm before), Caffe's ones-kernel depthwise Deconvolution read as nearest
Resize, and the writer-side fuse-activation (Keras activation=, Caffe in-place neuron
layers), each checked against its source (numpy for Caffe, Keras, torch)."""
from __future__ import annotations

import numpy as np
import pytest

from convert.ir import GraphBuilder, Source
from convert.api import optimize_graph as optimize
from helpers import assert_close, run_onnx
from caffe_cases import convert, net, np_batchnorm, np_conv, randn32

RNG = np.random.default_rng(11)


def _b(name):
    b = GraphBuilder(name, "test")
    b.source = Source("test", "Layer", name)
    return b


# -- fold-affine on hand-built graphs ----------------------------------------------------------
def conv_mul_add():
    b = _b("conv_mul_add")
    x = b.input("x", shape=("batch", 4, 5, 5))
    y = b.op("Conv", x, b.weight("w", RNG.standard_normal((6, 4, 3, 3))), b.weight("c", RNG.standard_normal(6)),
             kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    y = b.op("Mul", y, b.weight("s", RNG.uniform(0.5, 1.5, (6, 1, 1))))
    y = b.op("Add", b.weight("t", RNG.standard_normal((1, 6, 1, 1))), y)  # constant first
    b.output(b.op("Relu", y))
    return b.finish(), (2, 4, 5, 5)


def convtranspose_groups_mul():
    b = _b("deconv_mul")
    x = b.input("x", shape=("batch", 4, 3, 3))
    y = b.op("ConvTranspose", x, b.weight("w", RNG.standard_normal((4, 3, 2, 2))), kernel_shape=[2, 2],
             strides=[2, 2], group=2)  # 4 -> 6 channels, no bias: the Mul scales the weights only
    b.output(b.op("Mul", y, b.weight("s", RNG.uniform(0.5, 1.5, (1, 6, 1, 1)))))
    return b.finish(), (2, 4, 3, 3)


def gemm_mul_add():
    b = _b("gemm_mul_add")
    x = b.input("x", shape=("batch", 5))
    y = b.op("Gemm", x, b.weight("w", RNG.standard_normal((3, 5))), b.weight("c", RNG.standard_normal(3)), transB=1)
    y = b.op("Mul", y, b.weight("s", RNG.uniform(0.5, 1.5, 3)))
    b.output(b.op("Add", y, b.weight("t", np.float32(0.25))))  # a scalar
    return b.finish(), (2, 5)


def spatial_map_kept():
    b = _b("spatial")
    x = b.input("x", shape=("batch", 2, 4, 4))
    y = b.op("Conv", x, b.weight("w", RNG.standard_normal((3, 2, 1, 1))), kernel_shape=[1, 1])
    b.output(b.op("Mul", y, b.weight("m", RNG.uniform(0.5, 1.5, (1, 1, 4, 4)))))  # varies over H, W: no fold
    return b.finish(), (2, 2, 4, 4)


def shared_output_kept():
    b = _b("shared")
    x = b.input("x", shape=("batch", 2, 4, 4))
    y = b.op("Conv", x, b.weight("w", RNG.standard_normal((3, 2, 1, 1))), kernel_shape=[1, 1])
    b.output(b.op("Add", b.op("Mul", y, b.weight("s", RNG.uniform(0.5, 1.5, (3, 1, 1)))), y))  # conv read twice
    return b.finish(), (2, 2, 4, 4)


AFFINE = [
    ("conv-mul-add", conv_mul_add, ["Conv", "Relu"]),
    ("convtranspose-groups-mul", convtranspose_groups_mul, ["ConvTranspose"]),
    ("gemm-mul-add-scalar", gemm_mul_add, ["Gemm"]),
    ("spatial-map-kept", spatial_map_kept, ["Conv", "Mul"]),
    ("shared-output-kept", shared_output_kept, ["Conv", "Mul", "Add"]),
]


@pytest.mark.parametrize("name,build,ops", AFFINE, ids=[c[0] for c in AFFINE])
def test_fold_affine(name, build, ops):
    g, shape = build()
    feed = {"x": RNG.standard_normal(shape).astype(np.float32)}
    report = []
    opt = optimize(g, report=report)
    assert [n.op for n in opt.nodes] == ops
    assert bool(dict(report)["fold-affine"]) == (len(ops) < len(g.nodes))
    want = run_onnx(g, feed, optimize=False)
    got = run_onnx(opt, feed, optimize=False)
    for k in want:  # folding rounds W*s once instead of the product per element
        assert_close(got[k], want[k], rtol=1e-5, atol=1e-5, what=name)


def test_fold_affine_can_be_disabled():
    g, _ = conv_mul_add()
    assert [n.op for n in optimize(g, disable=["fold-affine"]).nodes] == ["Conv", "Mul", "Add", "Relu"]


# -- fold-pad -----------------------------------------------------------------------------------
def pad_conv(pads, mode="constant", value=0.0, channels_last=False):
    def build():
        b = _b("pad_conv")
        shape = (2, 5, 6, 3) if channels_last else (2, 3, 5, 6)
        x = b.input("x", shape=("batch",) + shape[1:])
        y = b.op("Pad", x, pads=pads, mode=mode, value=value)
        if channels_last:
            y = b.op("Transpose", y, perm=[0, 3, 1, 2])
        w = b.weight("w", RNG.standard_normal((4, 3, 3, 3)))
        b.output(b.op("Conv", y, w, kernel_shape=[3, 3], strides=[2, 1], pads=[1, 0, 0, 1]))
        return b.finish(), shape
    return build


PADS = [
    ("zero-pad-asymmetric", pad_conv([0, 0, 1, 2, 0, 0, 3, 0]), ["Conv"]),
    ("zero-pad-channels-last", pad_conv([0, 2, 1, 0, 0, 0, 2, 0], channels_last=True), ["Transpose", "Conv"]),
    ("value-one-kept", pad_conv([0, 0, 1, 1, 0, 0, 1, 1], value=1.0), ["Pad", "Conv"]),
    ("reflect-kept", pad_conv([0, 0, 1, 1, 0, 0, 1, 1], mode="reflect"), ["Pad", "Conv"]),
    ("channel-pad-kept", pad_conv([0, 1, 0, 0, 0, 0, 0, 0]), ["Pad", "Conv"]),
    ("crop-kept", pad_conv([0, 0, -1, 0, 0, 0, 0, 0]), ["Pad", "Conv"]),
]


@pytest.mark.parametrize("name,build,ops", PADS, ids=[c[0] for c in PADS])
def test_fold_pad(name, build, ops):
    g, shape = build()
    if name == "channel-pad-kept":  # the Conv then reads 4 channels
        g.weights["w"] = RNG.standard_normal((4, 4, 3, 3)).astype(np.float32)
    feed = {"x": RNG.standard_normal(shape).astype(np.float32)}
    report = []
    opt = optimize(g, report=report)
    assert [n.op for n in opt.nodes] == ops
    assert bool(dict(report)["fold-pad"]) == ("Pad" not in ops)
    want = run_onnx(g, feed, optimize=False)
    got = run_onnx(opt, feed, optimize=False)
    for k in want:
        assert_close(got[k], want[k], rtol=1e-5, atol=1e-6, what=name)


def test_keras_zero_padding_folds_into_conv(tmp_path):
    """Keras ZeroPadding2D + 'valid' Conv2D (ResNet50's stem): no Pad left in the ONNX."""
    keras = pytest.importorskip("keras")
    import onnx
    import onnxruntime as ort

    from convert.api import convert_file

    keras.utils.set_random_seed(0)
    inp = keras.Input((9, 10, 3))
    y = keras.layers.Conv2D(4, 3, strides=2)(keras.layers.ZeroPadding2D(((1, 2), (3, 0)))(inp))
    src = keras.Model(inp, y)
    src.save(tmp_path / "m.keras")
    convert_file(str(tmp_path / "m.keras"), str(tmp_path / "m.onnx"))
    assert "Pad" not in [n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node]
    x = np.random.default_rng(2).standard_normal((2, 9, 10, 3)).astype(np.float32)
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    assert_close(got, np.asarray(src(x)), rtol=1e-5, atol=1e-5, what="keras zero padding")


# -- Caffe: BatchNorm + Scale folded, ones-kernel Deconvolution as Resize ------------------------
def test_caffe_conv_batchnorm_scale_relu_is_one_conv(tmp_path):
    """Conv -> BatchNorm -> Scale -> ReLU (how Caffe ResNets are written) optimises to Conv -> Relu."""
    x, w, bias = randn32(1, 2, 3, 6, 6), randn32(2, 4, 3, 3, 3), randn32(3, 4)
    mean, var, gamma, beta = randn32(4, 4), np.abs(randn32(5, 4)) + 0.5, randn32(6, 4), randn32(7, 4)
    body = ('layer { name: "c" type: "Convolution" bottom: "x" top: "c" convolution_param { num_output: 4 '
            'kernel_size: 3 pad: 1 } }\n'
            'layer { name: "bn" type: "BatchNorm" bottom: "c" top: "c" batch_norm_param { eps: 0.001 } }\n'
            'layer { name: "sc" type: "Scale" bottom: "c" top: "c" scale_param { bias_term: true } }\n'
            'layer { name: "r" type: "ReLU" bottom: "c" top: "c" }')
    graph = convert(tmp_path, net({"x": x}, body), {"c": [w, bias], "bn": [mean * 2, var * 2, np.float32([2.0])],
                                                    "sc": [gamma, beta]})
    assert [n.op for n in optimize(graph).nodes] == ["Conv", "Relu"]
    y = np_batchnorm(np_conv(x, w, bias, [1, 1], [1, 1], [1, 1], 1), mean * 2, var * 2, 2.0, 1e-3)
    want = np.maximum(y * gamma.reshape(1, -1, 1, 1) + beta.reshape(1, -1, 1, 1), 0)
    assert_close(run_onnx(graph, {"x": x})["c"], want, rtol=1e-4, atol=1e-5, what="conv-bn-scale-relu")


@pytest.mark.parametrize("kernel,group,ones,op", [
    ((2, 2), 3, True, "Resize"),
    ((3, 2), 3, True, "Resize"),
    ((2, 2), 1, True, "ConvTranspose"),   # not depthwise: sums channels
    ((2, 2), 3, False, "ConvTranspose"),  # not a kernel of ones
], ids=["2x2", "3x2", "dense-kernel", "weighted"])
def test_caffe_ones_deconvolution_is_nearest_resize(tmp_path, kernel, group, ones, op):
    x = randn32(8, 2, 3, 4, 5)
    w = np.ones((3, 3 // group, *kernel), np.float32) if ones else randn32(9, 3, 1, *kernel)
    body = (f'layer {{ name: "up" type: "Deconvolution" bottom: "x" top: "up" convolution_param {{ num_output: 3 '
            f'group: {group} bias_term: false kernel_h: {kernel[0]} kernel_w: {kernel[1]} stride_h: {kernel[0]} '
            f'stride_w: {kernel[1]} }} }}')
    graph = convert(tmp_path, net({"x": x}, body), {"up": [w]})
    assert [n.op for n in graph.nodes] == [op]
    got = run_onnx(graph, {"x": x})["up"]
    if op == "Resize":  # each output is exactly one input value
        np.testing.assert_array_equal(got, np.repeat(np.repeat(x, kernel[0], 2), kernel[1], 3))
    else:
        want = np.zeros((2, 3, 4 * kernel[0], 5 * kernel[1]), np.float64)
        wg = w.reshape(group, 3 // group, 3 // group, *kernel)
        for i in range(4):
            for j in range(5):
                for g in range(group):
                    cs = slice(g * (3 // group), (g + 1) * (3 // group))
                    want[:, cs, i * kernel[0]:(i + 1) * kernel[0], j * kernel[1]:(j + 1) * kernel[1]] += np.einsum(
                        "nc,cmhw->nmhw", x[:, cs, i, j], wg[g])
        assert_close(got, want.astype(np.float32), rtol=1e-5, atol=1e-5, what=op)


# -- fuse-activation: Keras and Caffe writers ------------------------------------------------------
def _keras_source(path):
    import keras

    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((8, 8, 3))
    x = L.ReLU()(L.Conv2D(4, 3, padding="same")(inp))
    x = L.Activation("tanh")(L.Conv2DTranspose(4, 2, 2)(x))
    x = L.Activation("sigmoid")(L.DepthwiseConv2D(3, padding="same")(x))
    x = L.Flatten()(L.MaxPooling2D(4)(x))
    x = L.Activation("elu")(L.Dense(6)(x))
    model = keras.Model(inp, L.Dense(3)(x))
    model.save(path)
    return model


@pytest.mark.parametrize("disable", [(), ("fuse-activation",)], ids=["fused", "disabled"])
def test_keras_writer_fuses_activations(tmp_path, disable):
    keras = pytest.importorskip("keras")
    from convert.api import convert_file

    src = _keras_source(str(tmp_path / "src.keras"))
    x = np.random.default_rng(1).standard_normal((2, 8, 8, 3)).astype(np.float32)
    convert_file(str(tmp_path / "src.keras"), str(tmp_path / "out.keras"), disable_passes=disable)
    out = keras.saving.load_model(str(tmp_path / "out.keras"), compile=False)
    assert_close(np.asarray(out(x)), np.asarray(src(x)), rtol=1e-5, atol=1e-6, what="keras fused")
    acts = {l.get_config()["activation"] for l in out.layers
            if type(l).__name__ in ("Conv2D", "Conv2DTranspose", "DepthwiseConv2D", "Dense")} - {"linear"}
    n_plain = sum(type(l).__name__ in ("ReLU", "ELU", "Activation") for l in out.layers)
    if disable:
        assert not acts and n_plain == 4
        assert len(out.layers) == len(src.layers)
    else:
        assert acts == {"relu", "tanh", "sigmoid", "elu"} and n_plain == 0
        assert len(out.layers) == len(src.layers) - 4


def test_torch_relu6_and_gelu_fuse_into_keras(tmp_path):
    torch = pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    from convert.api import export
    from convert.importers.torch import from_torch

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU6(), torch.nn.Flatten(), torch.nn.Linear(64, 5),
                            torch.nn.GELU()).eval()
    x = torch.randn(2, 3, 6, 6)
    export(from_torch(m, (x,)), tmp_path / "m.keras", force=True)
    out = keras.saving.load_model(str(tmp_path / "m.keras"), compile=False)
    acts = [l.get_config().get("activation") for l in out.layers if type(l).__name__ in ("Conv2D", "Dense")]
    assert acts == ["relu6", "gelu"]
    with torch.no_grad():
        want = m(x).numpy()
    assert_close(np.asarray(out(x.numpy())), want, rtol=1e-5, atol=1e-6, what="torch->keras fused")


@pytest.mark.parametrize("disable", [(), ("fuse-activation",)], ids=["in-place", "disabled"])
def test_caffe_writer_runs_activations_in_place(tmp_path, disable):
    torch = pytest.importorskip("torch")
    from google.protobuf import text_format

    from convert.api import export
    from convert.caffe_proto import caffe_pb2
    from convert.importers.caffe import from_caffe
    from convert.importers.torch import from_torch

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 1), torch.nn.Sigmoid(),
                            torch.nn.Flatten(), torch.nn.Linear(64, 5), torch.nn.Tanh()).eval()
    x = torch.randn(1, 3, 6, 6)
    export(from_torch(m, (x,), dynamic_batch=False), tmp_path / "m.prototxt", force=True, disable_passes=disable)
    proto = text_format.Parse((tmp_path / "m.prototxt").read_text(), caffe_pb2.NetParameter())
    in_place = [l.type for l in proto.layer if list(l.top) == list(l.bottom)]
    assert in_place == ([] if disable else ["ReLU", "Sigmoid", "TanH"])
    graph = from_caffe(str(tmp_path / "m.prototxt"), str(tmp_path / "m.caffemodel"))
    with torch.no_grad():
        want = m(x).numpy()
    got = run_onnx(graph, {graph.inputs[0].name: x.numpy()})
    assert_close(next(iter(got.values())), want, rtol=1e-5, atol=1e-6, what="caffe in place")


@pytest.mark.parametrize("flags,listed", [((), True), (("--disable-pass", "fuse-activation"), False)],
                         ids=["listed", "disabled"])
def test_cli_reports_fused_activations(tmp_path, flags, listed):
    """--disable-pass fuse-activation is a known pass name; -v lists what the writer fuses."""
    torch = pytest.importorskip("torch")
    from click.testing import CliRunner

    from convert.api import export
    from convert.cli.main import main
    from convert.importers.torch import from_torch

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    export(from_torch(m, (torch.randn(1, 3, 6, 6),)), tmp_path / "m.nnir", force=True)
    r = CliRunner().invoke(main, ["-v", "convert", str(tmp_path / "m.nnir"), "-o", str(tmp_path / "m.prototxt"),
                                  *flags])
    assert r.exit_code == 0, r.output
    assert ("pass fuse-activation: 1 change(s)" in r.output) == listed, r.output
