"""Per-layer Caffe cases built in code (prototxt text + numpy weights written as a
caffemodel) for attribute combinations the shared reference nets do not cover.

No Caffe runtime exists here, so each expected value comes from a straightforward
numpy implementation of Caffe's documented formula for that layer (written below,
independent of the importer). Comments name the Caffe behaviour each case pins down.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from convert.importers.caffe import from_caffe
from tests.helpers import run_onnx

RTOL, ATOL = 1e-5, 1e-5


def write_caffemodel(path, weights: dict[str, list[np.ndarray]], scalar: tuple = ()) -> None:
    """A binary NetParameter holding only layer names and blobs (Caffe's net.save layout).
    Layers named in ``scalar`` get 0-axis blobs (no shape), as Caffe writes them."""
    from convert.caffe_proto import caffe_pb2

    net = caffe_pb2.NetParameter()
    for name, blobs in weights.items():
        layer = net.layer.add()
        layer.name = name
        for arr in blobs:
            b = layer.blobs.add()
            if name not in scalar:
                b.shape.dim.extend(arr.shape)
            b.data.extend(np.asarray(arr, np.float32).ravel().tolist())
    path.write_bytes(net.SerializeToString())


def convert(tmp_path, prototxt: str, weights: dict, scalar: tuple = ()):
    (tmp_path / "deploy.prototxt").write_text(prototxt)
    write_caffemodel(tmp_path / "w.caffemodel", weights, scalar)
    return from_caffe(str(tmp_path / "deploy.prototxt"), str(tmp_path / "w.caffemodel"))


def net(inputs: dict, body: str) -> str:
    head = "".join(f'input: "{k}"\ninput_shape {{ {" ".join(f"dim: {d}" for d in v.shape)} }}\n'
                   for k, v in inputs.items())
    return head + body


# ---------------------------------------------------------------- numpy references
def np_conv(x, w, b, stride, pad, dil, group):
    """Direct N-d cross-correlation with zero padding (Caffe's im2col convolution)."""
    n = x.ndim - 2
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    k = w.shape[2:]
    out_sp = [(xp.shape[2 + i] - (dil[i] * (k[i] - 1) + 1)) // stride[i] + 1 for i in range(n)]
    m, cg = w.shape[0], w.shape[1]
    y = np.zeros((x.shape[0], m, *out_sp), np.float64)
    for o in itertools.product(*[range(s) for s in out_sp]):
        for oc in range(m):
            g = oc // (m // group)
            sl = tuple(slice(o[i] * stride[i], o[i] * stride[i] + dil[i] * (k[i] - 1) + 1, dil[i]) for i in range(n))
            patch = xp[(slice(None), slice(g * cg, (g + 1) * cg)) + sl]
            y[(slice(None), oc) + o] = np.tensordot(patch, w[oc], axes=(list(range(1, n + 2)), list(range(n + 1))))
    if b is not None:
        y += b.reshape((1, -1) + (1,) * n)
    return y.astype(np.float32)


def np_batchnorm(x, mean, var, sf, eps):
    f = 0.0 if sf == 0 else 1.0 / sf
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - (mean * f).reshape(shape)) / np.sqrt((var * f).reshape(shape) + eps)


def np_resize_fork(x, oh, ow):
    """The fork's bilinear Resize: src = dst * in/out; a neighbour past the end is dropped."""
    h, w = x.shape[2:]
    y = np.zeros(x.shape[:2] + (oh, ow), np.float64)
    for i in range(oh):
        sy = i * (np.float32(h) / np.float32(oh))
        y0, dy = int(math.floor(sy)), sy - math.floor(sy)
        for j in range(ow):
            sx = j * (np.float32(w) / np.float32(ow))
            x0, dx = int(math.floor(sx)), sx - math.floor(sx)
            v = (1 - dy) * (1 - dx) * x[:, :, y0, x0]
            if x0 + 1 < w:
                v = v + (1 - dy) * dx * x[:, :, y0, x0 + 1]
            if y0 + 1 < h:
                v = v + dy * (1 - dx) * x[:, :, y0 + 1, x0]
            if x0 + 1 < w and y0 + 1 < h:
                v = v + dy * dx * x[:, :, y0 + 1, x0 + 1]
            y[:, :, i, j] = v
    return y


def np_lstm(x, cont, wx, b, wh):
    """Caffe LSTM: gates i, f, o, g; state reset where cont == 0."""
    t_len, n, _ = x.shape
    hdim = wh.shape[1]
    h = np.zeros((n, hdim))
    c = np.zeros((n, hdim))
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    out = []
    for t in range(t_len):
        ct = cont[t][:, None]
        g = x[t] @ wx.T + b + (ct * h) @ wh.T
        i, f, o, gg = sig(g[:, :hdim]), sig(g[:, hdim:2 * hdim]), sig(g[:, 2 * hdim:3 * hdim]), np.tanh(g[:, 3 * hdim:])
        c = ct * f * c + i * gg
        h = o * np.tanh(c)
        out.append(h)
    return np.stack(out)


# ---------------------------------------------------------------- cases
def _r(seed, *shape, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def case_conv3d():
    # N-d convolution: repeated kernel_size/stride/pad/dilation, one value per axis.
    x, w, b = _r(1, 1, 2, 5, 6, 7), _r(2, 4, 1, 2, 3, 2), _r(3, 4)
    body = ('layer { name: "c" type: "Convolution" bottom: "x" top: "c" convolution_param { num_output: 4 group: 2 '
            'kernel_size: 2 kernel_size: 3 kernel_size: 2 stride: 1 stride: 2 stride: 1 pad: 1 pad: 0 pad: 1 '
            'dilation: 1 dilation: 1 dilation: 2 } }')
    return {"x": x}, body, {"c": [w, b]}, {"c": np_conv(x, w, b, [1, 2, 1], [1, 0, 1], [1, 1, 2], 2)}


def case_conv1d():
    # 1-D convolution on a 3-D blob with bias_term false.
    x, w = _r(4, 2, 3, 9), _r(5, 2, 3, 3)
    body = ('layer { name: "c" type: "Convolution" bottom: "x" top: "c" convolution_param { num_output: 2 '
            'bias_term: false kernel_size: 3 stride: 2 pad: 1 } }')
    return {"x": x}, body, {"c": [w]}, {"c": np_conv(x, w, None, [2], [1], [1], 1)}


def case_batchnorm_sf_zero():
    # A scale factor of 0 makes mean and variance 0 (Caffe: scale_factor == 0 ? 0 : 1/sf).
    x = _r(6, 2, 3, 2, 2)
    mean, var = _r(7, 3), np.abs(_r(8, 3)) + 1
    body = 'layer { name: "bn" type: "BatchNorm" bottom: "x" top: "bn" batch_norm_param { eps: 0.01 } }'
    return {"x": x}, body, {"bn": [mean, var, np.array([0.0], np.float32)]}, \
        {"bn": np_batchnorm(x, mean, var, 0.0, 0.01)}


def case_batchnorm_2d():
    # BatchNorm on an (N, C) blob, sf 4.
    x = _r(9, 5, 3)
    mean, var = _r(10, 3), np.abs(_r(11, 3)) + 0.5
    body = 'layer { name: "bn" type: "BatchNorm" bottom: "x" top: "bn" }'
    return {"x": x}, body, {"bn": [mean * 4, var * 4, np.array([4.0], np.float32)]}, \
        {"bn": np_batchnorm(x, mean * 4, var * 4, 4.0, 1e-5)}


def case_prelu_2d():
    x, a = _r(12, 4, 3), _r(13, 3)
    body = 'layer { name: "p" type: "PReLU" bottom: "x" top: "p" }'
    return {"x": x}, body, {"p": [a]}, {"p": np.where(x > 0, x, x * a[None, :])}


def case_power_exp_log():
    # Power (shift + scale*x)^power; Exp base^(shift + scale*x); Log log_base(shift + scale*x).
    x = np.abs(_r(14, 2, 3)) + 0.5
    body = ('layer { name: "p" type: "Power" bottom: "x" top: "p" power_param { power: 2 scale: 0.5 shift: 1 } }\n'
            'layer { name: "p1" type: "Power" bottom: "x" top: "p1" power_param { shift: -2 } }\n'
            'layer { name: "e" type: "Exp" bottom: "x" top: "e" exp_param { base: 2 scale: 0.5 shift: -1 } }\n'
            'layer { name: "l" type: "Log" bottom: "x" top: "l" log_param { base: 10 scale: 2 shift: 0.5 } }\n')
    return {"x": x}, body, {}, {"p": (1 + 0.5 * x) ** 2, "p1": x - 2, "e": 2.0 ** (0.5 * x - 1),
                                "l": np.log10(0.5 + 2 * x)}


def case_threshold_default():
    x = _r(15, 2, 5)
    x[0, 0] = 0.0  # exactly at the threshold -> 0 (strictly greater)
    body = 'layer { name: "t" type: "Threshold" bottom: "x" top: "t" }'
    return {"x": x}, body, {}, {"t": (x > 0).astype(np.float32)}


def case_innerproduct_transpose_axis2():
    x, w, b = _r(16, 2, 3, 4), _r(17, 4, 5), _r(18, 5)  # transpose: W stored K x N
    body = ('layer { name: "ip" type: "InnerProduct" bottom: "x" top: "ip" inner_product_param { num_output: 5 '
            'axis: 2 transpose: true } }')
    return {"x": x}, body, {"ip": [w, b]}, {"ip": x @ w + b}


def case_shape_negative_axes():
    # Negative axes: Concat -1, Slice -2, Flatten end_axis -2, Softmax -2, Tile -1, ArgMax -1.
    x = _r(19, 2, 3, 4)
    body = ('layer { name: "cat" type: "Concat" bottom: "x" bottom: "x" top: "cat" concat_param { axis: -1 } }\n'
            'layer { name: "sl" type: "Slice" bottom: "x" top: "s0" top: "s1" slice_param { axis: -2 slice_point: 2 } }\n'
            'layer { name: "fl" type: "Flatten" bottom: "x" top: "fl" flatten_param { axis: 0 end_axis: -2 } }\n'
            'layer { name: "sm" type: "Softmax" bottom: "x" top: "sm" softmax_param { axis: -2 } }\n'
            'layer { name: "tl" type: "Tile" bottom: "x" top: "tl" tile_param { axis: -1 tiles: 3 } }\n'
            'layer { name: "am" type: "ArgMax" bottom: "x" top: "am" argmax_param { axis: -1 } }\n')
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return {"x": x}, body, {}, {
        "cat": np.concatenate([x, x], -1), "s0": x[:, :2], "s1": x[:, 2:], "fl": x.reshape(6, 4),
        "sm": e / e.sum(axis=1, keepdims=True), "tl": np.tile(x, (1, 1, 3)),
        "am": np.argmax(x, -1)[..., None].astype(np.float32)}


def case_crop_negative_axis():
    x, ref = _r(20, 1, 2, 6, 7), np.zeros((1, 2, 6, 3), np.float32)
    body = 'layer { name: "cr" type: "Crop" bottom: "x" bottom: "ref" top: "cr" crop_param { axis: -1 offset: 2 } }'
    return {"x": x, "ref": ref}, body, {}, {"cr": x[..., 2:5]}


def case_scale_bias_all_axes():
    # Scale num_axes -1 from axis 2 with bias; Bias num_axes -1 from axis 1.
    x, g, b, c = _r(21, 2, 3, 4), _r(22, 4), _r(23, 4), _r(24, 3, 4)
    body = ('layer { name: "sc" type: "Scale" bottom: "x" top: "sc" scale_param { axis: 2 num_axes: -1 bias_term: true } }\n'
            'layer { name: "bi" type: "Bias" bottom: "x" top: "bi" bias_param { axis: 1 num_axes: -1 } }\n')
    return {"x": x}, body, {"sc": [g, b], "bi": [c]}, {"sc": x * g + b, "bi": x + c}


def case_lrn_within_defaults():
    # WITHIN_CHANNEL with default alpha 1 and beta 0.75: x / (1 + alpha/n^2 * window sum x^2)^beta.
    x = _r(25, 1, 2, 4, 5)
    body = 'layer { name: "n" type: "LRN" bottom: "x" top: "n" lrn_param { local_size: 3 norm_region: WITHIN_CHANNEL } }'
    sq = np.pad(x.astype(np.float64) ** 2, [(0, 0), (0, 0), (1, 1), (1, 1)])
    win = sum(sq[:, :, i:i + 4, j:j + 5] for i in range(3) for j in range(3))
    return {"x": x}, body, {}, {"n": x / (1 + 1.0 / 9 * win) ** 0.75}


def case_pool_ave_ceil_overhang():
    # AVE with ceil rounding: the last window overhangs the padded input; Caffe divides by
    # the part inside [-pad, size+pad) only.
    x = _r(26, 1, 1, 6, 6)
    body = ('layer { name: "p" type: "Pooling" bottom: "x" top: "p" pooling_param { pool: AVE kernel_size: 3 '
            'stride: 2 pad: 1 } }')
    h = 6
    out = math.ceil((h + 2 - 3) / 2) + 1
    if (out - 1) * 2 >= h + 1:
        out -= 1
    xp = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])
    y = np.zeros((1, 1, out, out))
    for i in range(out):
        for j in range(out):
            hs, ws = i * 2 - 1, j * 2 - 1
            he, we = min(hs + 3, h + 1), min(ws + 3, h + 1)
            y[0, 0, i, j] = xp[0, 0, hs + 1:he + 1, ws + 1:we + 1].sum() / ((he - hs) * (we - ws))
    return {"x": x}, body, {}, {"p": y}


def case_resize_downscale():
    x = _r(27, 1, 2, 5, 6)
    body = 'layer { name: "r" type: "Resize" bottom: "x" top: "r" resize_param { height: 3 width: 4 } }'
    return {"x": x}, body, {}, {"r": np_resize_fork(x, 3, 4)}


def case_upsample_rect():
    x = _r(28, 1, 2, 2, 3)
    body = 'layer { name: "u" type: "Upsample" bottom: "x" top: "u" upsample_param { scale: 2 } }'
    return {"x": x}, body, {}, {"u": x.repeat(2, axis=2).repeat(2, axis=3)}


def case_lstm_single_step_reset():
    # cont all zeros: every step restarts (h and c reset each step).
    x, cont = _r(29, 3, 2, 3), np.zeros((3, 2), np.float32)
    wx, b, wh = _r(30, 16, 3, scale=0.5), _r(31, 16, scale=0.1), _r(32, 16, 4, scale=0.5)
    body = 'layer { name: "l" type: "LSTM" bottom: "x" bottom: "cont" top: "l" recurrent_param { num_output: 4 } }'
    return {"x": x, "cont": cont}, body, {"l": [wx, b, wh]}, {"l": np_lstm(x, cont, wx, b, wh)}


def case_eltwise_sum_coeff_two():
    a, b = _r(33, 2, 3), _r(34, 2, 3)
    body = ('layer { name: "e" type: "Eltwise" bottom: "a" bottom: "b" top: "e" eltwise_param { operation: SUM '
            'coeff: 0.5 coeff: 3 } }')
    return {"a": a, "b": b}, body, {}, {"e": 0.5 * a + 3 * b}


def case_phase_rules():
    # TRAIN-only layers are dropped, TEST-only kept; exclude { phase: TEST } drops a layer.
    x = _r(35, 2, 3)
    body = ('layer { name: "train_only" type: "Power" bottom: "x" top: "y" power_param { scale: 100 } include { phase: TRAIN } }\n'
            'layer { name: "test_only" type: "Power" bottom: "x" top: "y" power_param { scale: 2 } include { phase: TEST } }\n'
            'layer { name: "not_test" type: "Accuracy" bottom: "y" bottom: "x" top: "acc" exclude { phase: TEST } }\n')
    return {"x": x}, body, {}, {"y": 2 * x}


CASES = {f.__name__[5:]: f for f in [
    case_conv3d, case_conv1d, case_batchnorm_sf_zero, case_batchnorm_2d, case_prelu_2d, case_power_exp_log,
    case_threshold_default, case_innerproduct_transpose_axis2, case_shape_negative_axes, case_crop_negative_axis,
    case_scale_bias_all_axes, case_lrn_within_defaults, case_pool_ave_ceil_overhang, case_resize_downscale,
    case_upsample_rect, case_lstm_single_step_reset, case_eltwise_sum_coeff_two, case_phase_rules,
]}


@pytest.mark.parametrize("name", list(CASES))
def test_layer_case(tmp_path, name):
    inputs, body, weights, expected = CASES[name]()
    graph = convert(tmp_path, net(inputs, body), weights)
    for blob in expected:
        if blob not in {v.name for v in graph.outputs}:
            from convert.ir.graph import Value

            graph.outputs.append(Value(blob, "float32", None))
    outs = run_onnx(graph, inputs)
    for blob, want in expected.items():
        got = outs[blob]
        assert got.shape == np.shape(want), f"{name}/{blob}: {got.shape} != {np.shape(want)}"
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=f"{name}/{blob}")
