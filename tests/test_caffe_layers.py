"""Per-layer Caffe cases built in code (prototxt text + numpy weights written as a
caffemodel) for attribute combinations the shared reference nets do not cover.

No Caffe runtime exists here, so each expected value comes from a straightforward
numpy implementation of Caffe's documented formula for that layer (written below,
independent of the importer). Comments name the Caffe behaviour each case pins down.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from caffe_cases import convert, net, np_batchnorm, np_conv, np_lstm, np_resize_fork, randn32
from helpers import run_onnx

RTOL, ATOL = 1e-5, 1e-5


# ---------------------------------------------------------------- cases
def case_conv3d():
    # N-d convolution: repeated kernel_size/stride/pad/dilation, one value per axis.
    x, w, b = randn32(1, 1, 2, 5, 6, 7), randn32(2, 4, 1, 2, 3, 2), randn32(3, 4)
    body = ('layer { name: "c" type: "Convolution" bottom: "x" top: "c" convolution_param { num_output: 4 group: 2 '
            'kernel_size: 2 kernel_size: 3 kernel_size: 2 stride: 1 stride: 2 stride: 1 pad: 1 pad: 0 pad: 1 '
            'dilation: 1 dilation: 1 dilation: 2 } }')
    return {"x": x}, body, {"c": [w, b]}, {"c": np_conv(x, w, b, [1, 2, 1], [1, 0, 1], [1, 1, 2], 2)}


def case_conv1d():
    # 1-D convolution on a 3-D blob with bias_term false.
    x, w = randn32(4, 2, 3, 9), randn32(5, 2, 3, 3)
    body = ('layer { name: "c" type: "Convolution" bottom: "x" top: "c" convolution_param { num_output: 2 '
            'bias_term: false kernel_size: 3 stride: 2 pad: 1 } }')
    return {"x": x}, body, {"c": [w]}, {"c": np_conv(x, w, None, [2], [1], [1], 1)}


def case_batchnorm_sf_zero():
    # A scale factor of 0 makes mean and variance 0 (Caffe: scale_factor == 0 ? 0 : 1/sf).
    x = randn32(6, 2, 3, 2, 2)
    mean, var = randn32(7, 3), np.abs(randn32(8, 3)) + 1
    body = 'layer { name: "bn" type: "BatchNorm" bottom: "x" top: "bn" batch_norm_param { eps: 0.01 } }'
    return {"x": x}, body, {"bn": [mean, var, np.array([0.0], np.float32)]}, \
        {"bn": np_batchnorm(x, mean, var, 0.0, 0.01)}


def case_batchnorm_2d():
    # BatchNorm on an (N, C) blob, sf 4.
    x = randn32(9, 5, 3)
    mean, var = randn32(10, 3), np.abs(randn32(11, 3)) + 0.5
    body = 'layer { name: "bn" type: "BatchNorm" bottom: "x" top: "bn" }'
    return {"x": x}, body, {"bn": [mean * 4, var * 4, np.array([4.0], np.float32)]}, \
        {"bn": np_batchnorm(x, mean * 4, var * 4, 4.0, 1e-5)}


def case_prelu_2d():
    x, a = randn32(12, 4, 3), randn32(13, 3)
    body = 'layer { name: "p" type: "PReLU" bottom: "x" top: "p" }'
    return {"x": x}, body, {"p": [a]}, {"p": np.where(x > 0, x, x * a[None, :])}


def case_power_exp_log():
    # Power (shift + scale*x)^power; Exp base^(shift + scale*x); Log log_base(shift + scale*x).
    x = np.abs(randn32(14, 2, 3)) + 0.5
    body = ('layer { name: "p" type: "Power" bottom: "x" top: "p" power_param { power: 2 scale: 0.5 shift: 1 } }\n'
            'layer { name: "p1" type: "Power" bottom: "x" top: "p1" power_param { shift: -2 } }\n'
            'layer { name: "e" type: "Exp" bottom: "x" top: "e" exp_param { base: 2 scale: 0.5 shift: -1 } }\n'
            'layer { name: "l" type: "Log" bottom: "x" top: "l" log_param { base: 10 scale: 2 shift: 0.5 } }\n')
    return {"x": x}, body, {}, {"p": (1 + 0.5 * x) ** 2, "p1": x - 2, "e": 2.0 ** (0.5 * x - 1),
                                "l": np.log10(0.5 + 2 * x)}


def case_threshold_default():
    x = randn32(15, 2, 5)
    x[0, 0] = 0.0  # exactly at the threshold -> 0 (strictly greater)
    body = 'layer { name: "t" type: "Threshold" bottom: "x" top: "t" }'
    return {"x": x}, body, {}, {"t": (x > 0).astype(np.float32)}


def case_innerproduct_transpose_axis2():
    x, w, b = randn32(16, 2, 3, 4), randn32(17, 4, 5), randn32(18, 5)  # transpose: W stored K x N
    body = ('layer { name: "ip" type: "InnerProduct" bottom: "x" top: "ip" inner_product_param { num_output: 5 '
            'axis: 2 transpose: true } }')
    return {"x": x}, body, {"ip": [w, b]}, {"ip": x @ w + b}


def case_shape_negative_axes():
    # Negative axes: Concat -1, Slice -2, Flatten end_axis -2, Softmax -2, Tile -1, ArgMax -1.
    x = randn32(19, 2, 3, 4)
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
    x, ref = randn32(20, 1, 2, 6, 7), np.zeros((1, 2, 6, 3), np.float32)
    body = 'layer { name: "cr" type: "Crop" bottom: "x" bottom: "ref" top: "cr" crop_param { axis: -1 offset: 2 } }'
    return {"x": x, "ref": ref}, body, {}, {"cr": x[..., 2:5]}


def case_scale_bias_all_axes():
    # Scale num_axes -1 from axis 2 with bias; Bias num_axes -1 from axis 1.
    x, g, b, c = randn32(21, 2, 3, 4), randn32(22, 4), randn32(23, 4), randn32(24, 3, 4)
    body = ('layer { name: "sc" type: "Scale" bottom: "x" top: "sc" scale_param { axis: 2 num_axes: -1 bias_term: true } }\n'
            'layer { name: "bi" type: "Bias" bottom: "x" top: "bi" bias_param { axis: 1 num_axes: -1 } }\n')
    return {"x": x}, body, {"sc": [g, b], "bi": [c]}, {"sc": x * g + b, "bi": x + c}


def case_lrn_within_defaults():
    # WITHIN_CHANNEL with default alpha 1 and beta 0.75: x / (1 + alpha/n^2 * window sum x^2)^beta.
    x = randn32(25, 1, 2, 4, 5)
    body = 'layer { name: "n" type: "LRN" bottom: "x" top: "n" lrn_param { local_size: 3 norm_region: WITHIN_CHANNEL } }'
    sq = np.pad(x.astype(np.float64) ** 2, [(0, 0), (0, 0), (1, 1), (1, 1)])
    win = sum(sq[:, :, i:i + 4, j:j + 5] for i in range(3) for j in range(3))
    return {"x": x}, body, {}, {"n": x / (1 + 1.0 / 9 * win) ** 0.75}


def case_pool_ave_ceil_overhang():
    # AVE with ceil rounding: the last window overhangs the padded input; Caffe divides by
    # the part inside [-pad, size+pad) only.
    x = randn32(26, 1, 1, 6, 6)
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
    x = randn32(27, 1, 2, 5, 6)
    body = 'layer { name: "r" type: "Resize" bottom: "x" top: "r" resize_param { height: 3 width: 4 } }'
    return {"x": x}, body, {}, {"r": np_resize_fork(x, 3, 4)}


def case_upsample_rect():
    x = randn32(28, 1, 2, 2, 3)
    body = 'layer { name: "u" type: "Upsample" bottom: "x" top: "u" upsample_param { scale: 2 } }'
    return {"x": x}, body, {}, {"u": x.repeat(2, axis=2).repeat(2, axis=3)}


def case_lstm_single_step_reset():
    # cont all zeros: every step restarts (h and c reset each step).
    x, cont = randn32(29, 3, 2, 3), np.zeros((3, 2), np.float32)
    wx, b, wh = randn32(30, 16, 3, scale=0.5), randn32(31, 16, scale=0.1), randn32(32, 16, 4, scale=0.5)
    body = 'layer { name: "l" type: "LSTM" bottom: "x" bottom: "cont" top: "l" recurrent_param { num_output: 4 } }'
    return {"x": x, "cont": cont}, body, {"l": [wx, b, wh]}, {"l": np_lstm(x, cont, wx, b, wh)}


def case_eltwise_sum_coeff_two():
    a, b = randn32(33, 2, 3), randn32(34, 2, 3)
    body = ('layer { name: "e" type: "Eltwise" bottom: "a" bottom: "b" top: "e" eltwise_param { operation: SUM '
            'coeff: 0.5 coeff: 3 } }')
    return {"a": a, "b": b}, body, {}, {"e": 0.5 * a + 3 * b}


def case_phase_rules():
    # TRAIN-only layers are dropped, TEST-only kept; exclude { phase: TEST } drops a layer.
    x = randn32(35, 2, 3)
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
