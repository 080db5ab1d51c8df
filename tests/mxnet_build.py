"""Builds the MXNet test models and records MXNet's own outputs. Runs under MXNet's
interpreter (NNCONVERT_MXNET_PYTHON; mxnet 1.9.1 + numpy<1.24), never under pytest:

    python mxnet_build.py OUTDIR zoo|ops [NAME ...]

Per model NAME it writes NAME-symbol.json, NAME-0000.params and NAME.npz holding the
inputs and outputs: x, y (outputs for x), x2, y2 (another input) and, for zoo models,
y_pert (x with a middle weight scaled by 1.01). Weights carry signal: constant-initialised
parameters are randomised and BatchNorm running statistics come from a calibration batch.
"""
import sys
import zlib

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.gluon import nn, rnn
from mxnet.gluon.model_zoo import vision

# name -> (builder, input shape); the smallest input each architecture accepts
ZOO = {
    "resnet18_v1": (lambda: vision.resnet18_v1(), (1, 3, 32, 32)),
    "resnet18_v2": (lambda: vision.resnet18_v2(), (1, 3, 32, 32)),
    "mobilenet0.25": (lambda: vision.mobilenet0_25(), (1, 3, 32, 32)),
    "mobilenetv2_0.25": (lambda: vision.mobilenet_v2_0_25(), (1, 3, 32, 32)),
    "squeezenet1.1": (lambda: vision.squeezenet1_1(), (1, 3, 224, 224)),
    "densenet121": (lambda: vision.densenet121(), (1, 3, 224, 224)),
    "inception_v3": (lambda: vision.inception_v3(), (1, 3, 299, 299)),
    "vgg11_bn": (lambda: vision.vgg11_bn(), (1, 3, 32, 32)),
    "alexnet": (lambda: vision.alexnet(), (1, 3, 64, 64)),
}


class ArcResidual(gluon.HybridBlock):
    """InsightFace's improved residual unit: BN-conv-BN-PReLU-conv-BN (+ projection)."""

    def __init__(self, channels, stride, **kw):
        super().__init__(**kw)
        self.body = nn.HybridSequential()
        self.body.add(nn.BatchNorm(epsilon=2e-5), nn.Conv2D(channels, 3, 1, 1, use_bias=False),
                      nn.BatchNorm(epsilon=2e-5), nn.PReLU(), nn.Conv2D(channels, 3, stride, 1, use_bias=False),
                      nn.BatchNorm(epsilon=2e-5))
        self.short = nn.HybridSequential()
        self.short.add(nn.Conv2D(channels, 1, stride, use_bias=False), nn.BatchNorm(epsilon=2e-5))

    def hybrid_forward(self, F, x):
        return self.body(x) + self.short(x)


class ArcFace(gluon.HybridBlock):
    """ArcFace-style ResNet: PReLU stem, residual units, then the 'E' embedding head
    (BN - Dropout - FC - BN with a fixed gamma). Like InsightFace's models it returns
    the embedding; callers L2-normalise it."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.stem = nn.HybridSequential()
        self.stem.add(nn.Conv2D(16, 3, 1, 1, use_bias=False), nn.BatchNorm(epsilon=2e-5), nn.PReLU())
        self.units = nn.HybridSequential()
        self.units.add(ArcResidual(16, 2), ArcResidual(32, 2), ArcResidual(32, 1))
        self.head = nn.HybridSequential()
        self.head.add(nn.BatchNorm(epsilon=2e-5), nn.Dropout(0.4), nn.Dense(64),
                      nn.BatchNorm(epsilon=2e-5, scale=False))

    def hybrid_forward(self, F, x):
        return self.head(self.units(self.stem(x)))


ZOO["arcface_resnet"] = (ArcFace, (1, 3, 32, 32))


def _signal(net, x):
    """Randomise constant-initialised parameters; BatchNorm statistics from a batch."""
    rng = np.random.RandomState(0)
    for name, p in net.collect_params().items():
        a = p.data().asnumpy()
        if name.endswith(("gamma", "alpha")):
            p.set_data(mx.nd.array(rng.uniform(0.5, 1.5, a.shape) * (0.3 if name.endswith("alpha") else 1)))
        elif name.endswith("beta"):
            p.set_data(mx.nd.array(rng.normal(0, 0.1, a.shape)))
        elif name.endswith("bias"):  # small: in nets without BatchNorm, biases would drown the input
            p.set_data(mx.nd.array(rng.normal(0, 0.01, a.shape)))
    bns = [b for b in _blocks(net) if isinstance(b, nn.BatchNorm)]
    for b in bns:
        b._kwargs["momentum"] = 0.0  # one batch sets the running statistics
    with autograd.record(train_mode=True):
        net(x)
    for b in bns:
        b._kwargs["momentum"] = 0.9


def _spread_classifier(net, calib):
    """Rescale the classifier so that its outputs follow the input: per input feature,
    subtract the calibration batch's mean and divide by its spread (the pooled
    features of random-weight nets barely vary, so the bias would dominate)."""
    head = [b for b in _blocks(net.output) if isinstance(b, (nn.Dense, nn.Conv2D))][0]
    feats = net.features(calib)
    f = feats.reshape((feats.shape[0], -1)).asnumpy() if isinstance(head, nn.Dense) else \
        feats.asnumpy().mean(axis=(2, 3))  # a 1x1 conv classifier before global pooling
    mean, std = f.mean(axis=0), f.std(axis=0)
    std = np.maximum(std, 1e-3 * std.max() + 1e-12)
    w = head.weight.data().asnumpy()
    scale = (1.0 / std).reshape((1, -1) + (1,) * (w.ndim - 2))
    new_w = w * scale
    head.weight.set_data(mx.nd.array(new_w))
    if head.bias is not None:  # without a bias the mean stays in (MobileNetV2)
        b = head.bias.data().asnumpy()
        head.bias.set_data(mx.nd.array(b - (new_w.reshape(w.shape[0], w.shape[1], -1).sum(-1) * mean).sum(1)))


def _blocks(block):
    yield block
    for child in block._children.values():
        yield from _blocks(child)


def sample(seed, shape):
    """Structured input: coarse random blocks plus fine noise. I.i.d. noise alone gives
    nearly the same globally pooled features for every sample, so outputs would not
    depend on the input."""
    rng = np.random.RandomState(seed)
    n, c, h, w = shape
    coarse = rng.uniform(-1.5, 1.5, (n, c, 4, 4))
    big = np.repeat(np.repeat(coarse, -(-h // 4), axis=2), -(-w // 4), axis=3)[:, :, :h, :w]
    return (big + rng.normal(0, 0.3, shape)).astype(np.float32)


def build_zoo(out, name):
    make, shape = ZOO[name]
    mx.random.seed(0)
    np.random.seed(0)
    net = make()
    net.initialize(mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2))  # He init
    calib = mx.nd.array(sample(1, (4, *shape[1:])))
    net(calib)  # finishes deferred initialisation
    _signal(net, calib)
    if hasattr(net, "output"):
        _spread_classifier(net, calib)
    net.hybridize()
    x, x2 = sample(2, shape), sample(3, shape)
    y = net(mx.nd.array(x)).asnumpy()
    y2 = net(mx.nd.array(x2)).asnumpy()
    net.export(f"{out}/{name}")
    weights = [p for n, p in net.collect_params().items() if n.endswith("weight") and len(p.shape) >= 2]
    mid = weights[len(weights) // 2]
    orig = mid.data().copy()
    flip = np.random.RandomState(4).choice([-1.0, 1.0], mid.shape)
    mid.set_data(orig * mx.nd.array(1 + 0.01 * flip))  # every element changed by 1%
    y_pert = net(mx.nd.array(x)).asnumpy()
    mid.set_data(orig)
    np.savez(f"{out}/{name}.npz", x=x, y=y, x2=x2, y2=y2, y_pert=y_pert)


# -- operator cases: symbols built directly --------------------------------------
S = mx.sym
D = S.var("data")


def _w(name):
    return S.var(name)


def _ops():
    """name -> (symbol, data shape, data kind)."""
    c = {}
    c["conv_group_dilate"] = (S.Activation(S.Convolution(D, _w("c_weight"), kernel=(3, 3), num_filter=8,
                              num_group=2, dilate=(2, 2), pad=(2, 1), stride=(1, 2), no_bias=True, name="c"),
                              act_type="softrelu"), (2, 4, 9, 11))
    c["deconv_adj"] = (S.Deconvolution(D, _w("d_weight"), _w("d_bias"), kernel=(3, 3), stride=(2, 2), pad=(1, 1),
                       adj=(1, 1), num_filter=6, no_bias=False, name="d"), (2, 4, 5, 6))
    c["pool_full_avg"] = (S.Pooling(D, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="avg",
                          pooling_convention="full"), (2, 3, 8, 9))
    c["pool_full_max"] = (S.Pooling(D, kernel=(3, 3), stride=(2, 2), pool_type="max",
                          pooling_convention="full"), (2, 3, 8, 10))
    c["pool_avg_exclude_pad"] = (S.Pooling(D, kernel=(3, 2), stride=(2, 2), pad=(1, 1), pool_type="avg",
                                 count_include_pad=False), (2, 3, 7, 8))
    c["pool_sum_global"] = (S.broadcast_add(S.broadcast_sub(
        S.Pooling(D, kernel=(2, 2), stride=(2, 2), pool_type="sum"),
        S.Pooling(D, kernel=(1, 1), global_pool=True, pool_type="max")),
        S.Pooling(D, kernel=(1, 1), global_pool=True, pool_type="sum")), (2, 3, 6, 6))
    bn = S.BatchNorm(D, _w("b1_gamma"), _w("b1_beta"), S.var("b1_moving_mean"), S.var("b1_moving_var"),
                     fix_gamma=True, eps=1e-3, name="b1")
    bn2 = S.BatchNorm(bn, _w("b2_gamma"), _w("b2_beta"), S.var("b2_moving_mean"), S.var("b2_moving_var"),
                      fix_gamma=False, eps=2e-5, axis=-1, name="b2")
    c["batchnorm_fix_gamma_axis"] = (bn2, (2, 5, 6))
    c["leaky_family"] = (S.concat(S.LeakyReLU(D, act_type="leaky", slope=0.1), S.LeakyReLU(D, act_type="elu", slope=0.7),
                                  S.LeakyReLU(D, act_type="selu"), S.LeakyReLU(D, act_type="gelu"),
                                  S.LeakyReLU(D, _w("p_gamma"), act_type="prelu", name="p"),
                                  S.Activation(D, act_type="sigmoid"), S.Activation(D, act_type="tanh"), dim=1),
                         (2, 3, 4, 5))
    r = S.Reshape(D, shape=(0, -4, 2, -1, -2))          # (2, 6, 3, 4) -> (2, 2, 3, 3, 4)
    r = S.Reshape(r, shape=(0, 0, -3, -1))              # -> (2, 2, 9, 4)
    r = S.transpose(r, axes=(0, 3, 1, 2))               # -> (2, 4, 2, 9)
    c["reshape_codes_transpose"] = (S.Reshape(r, shape=(-1, 0, 0, 3, 3)) * 1.5, (2, 6, 3, 4))
    parts = S.SliceChannel(D, num_outputs=3, axis=1)
    sq = S.SliceChannel(D, num_outputs=6, axis=1, squeeze_axis=True)
    c["slice_concat_elementwise"] = (S.concat(S.broadcast_mul(parts[2], parts[0]) - parts[1],
                                              S.expand_dims(sq[4], axis=1) / 2.0, 3.0 - parts[0],
                                              S.maximum(parts[1], 0.1), S.add_n(parts[0], parts[1], parts[2]),
                                              S.broadcast_add(parts[2], S.var("bias_c", shape=(1, 2, 1, 1))), dim=1), (2, 6, 4, 3))
    up = S.UpSampling(D, scale=2, sample_type="nearest")  # (2, 3, 14, 16)
    c["crop_upsample"] = (S.concat(S.Crop(up, h_w=(7, 8), offset=(1, 2)), S.Crop(up, D, center_crop=True),
                                   dim=1), (2, 3, 7, 8))
    c["upsample_bilinear"] = (S.UpSampling(D, _w("u_weight"), scale=2, sample_type="bilinear", num_filter=3,
                                           name="u"), (2, 3, 4, 5))
    c["l2norm_modes"] = (S.concat(S.L2Normalization(D, mode="instance"), S.L2Normalization(D, mode="channel"),
                                  S.L2Normalization(D, mode="spatial", eps=1e-6), dim=1), (2, 3, 4, 5))
    fc = S.FullyConnected(D, _w("f_weight"), _w("f_bias"), num_hidden=7, flatten=False, name="f")
    c["fc_softmax_family"] = (S.concat(S.softmax(fc, axis=1), S.log_softmax(fc, axis=-1),
                                       S.SoftmaxActivation(fc, mode="channel"), S.clip(fc, a_min=-0.5, a_max=0.6),
                                       S.Dropout(fc, p=0.3), dim=2), (2, 3, 5))
    fc2 = S.FullyConnected(D, _w("g_weight"), num_hidden=5, no_bias=True, name="g")
    c["fc_flatten_softmaxoutput"] = (S.SoftmaxOutput(fc2, S.var("softmax_label"), name="softmax"), (2, 3, 2, 2))
    pos = S.abs(D) + 0.5
    c["unary_math"] = (S.concat(S.relu(D), S.sigmoid(D), S.tanh(D), S.exp(D), S.log(pos), S.sqrt(pos), S.negative(D),
                                S.reciprocal(pos), S.erf(D), S.square(D), S.BlockGrad(D), dim=1), (2, 3, 4))
    c["embedding"] = (S.Embedding(D, _w("e_weight"), input_dim=11, output_dim=4, name="e"), (2, 5))
    return c


class _Recurrent(gluon.HybridBlock):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.lstm = rnn.LSTM(6, num_layers=2, bidirectional=True, layout="NTC", input_size=5)
        self.gru = rnn.GRU(4, num_layers=1, layout="NTC", input_size=12)
        self.rnn = rnn.RNN(3, activation="relu", layout="NTC", input_size=4)

    def hybrid_forward(self, F, x):
        return self.rnn(self.gru(self.lstm(x)))


def build_op(out, name):
    rng = np.random.RandomState(zlib.crc32(name.encode()))
    if name == "rnn_lstm_gru":
        mx.random.seed(0)
        net = _Recurrent()
        net.initialize(mx.init.Uniform(0.5))
        for p in net.collect_params().values():
            p.set_data(mx.nd.array(rng.uniform(-0.5, 0.5, p.shape)))
        net.hybridize()
        x = rng.uniform(-1, 1, (2, 4, 5)).astype(np.float32)
        x2 = rng.uniform(-1, 1, (2, 4, 5)).astype(np.float32)
        y, y2 = net(mx.nd.array(x)).asnumpy(), net(mx.nd.array(x2)).asnumpy()
        net.export(f"{out}/{name}")
        np.savez(f"{out}/{name}.npz", x=x, y=y, x2=x2, y2=y2)
        return
    sym, shape = _ops()[name]
    if name == "embedding":
        x, x2 = (rng.randint(0, 11, shape).astype(np.float32) for _ in range(2))
    else:
        x, x2 = (rng.uniform(-1, 1, shape).astype(np.float32) for _ in range(2))
    arg_shapes, _, aux_shapes = sym.infer_shape(data=shape)
    args = {n: mx.nd.array(rng.uniform(-1, 1, s)) for n, s in zip(sym.list_arguments(), arg_shapes) if n != "data"}
    aux = {n: mx.nd.array(rng.uniform(0.5, 1.5, s) if n.endswith("var") else rng.uniform(-0.5, 0.5, s))
           for n, s in zip(sym.list_auxiliary_states(), aux_shapes)}

    def run(data):
        exe = sym.bind(mx.cpu(), {"data": mx.nd.array(data), **args}, aux_states=aux, grad_req="null")
        return exe.forward(is_train=False)[0].asnumpy()

    y, y2 = run(x), run(x2)
    sym.save(f"{out}/{name}-symbol.json")
    mx.nd.save(f"{out}/{name}-0000.params", {**{f"arg:{k}": v for k, v in args.items() if k != "softmax_label"},
                                             **{f"aux:{k}": v for k, v in aux.items()}})
    np.savez(f"{out}/{name}.npz", x=x, y=y, x2=x2, y2=y2)


OPS = sorted(_ops()) + ["rnn_lstm_gru"]

if __name__ == "__main__":
    out, kind, *names = sys.argv[1:]
    for n in names or (sorted(ZOO) if kind == "zoo" else OPS):
        (build_zoo if kind == "zoo" else build_op)(out, n)
        print("built", n, flush=True)
