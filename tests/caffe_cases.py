"""Shared code of the Caffe tests: a net written in code (prototxt text + numpy weights
as a caffemodel), and straightforward numpy implementations of Caffe's documented
formulas, independent of the importer, as the expected values."""
from __future__ import annotations

import itertools
import math

import numpy as np

from convert.importers.caffe import from_caffe


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


def randn32(seed, *shape, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)
