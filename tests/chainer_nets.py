"""Chainer models for the tests: factories for ``nnconvert convert chainer_nets.py:NAME
--from chainer``. Imported only by Chainer's interpreter (NNCONVERT_CHAINER_PYTHON).

Every factory is deterministic (seeded), randomises constant-initialised parameters and
sets BatchNorm statistics from a calibration batch, so weights carry signal; a
``*_perturbed`` twin scales every element of a middle weight by 1 +/- 1%.
"""
import chainer
import chainer.functions as F
import chainer.links as L
import numpy as np
from chainer.links.model.vision import googlenet as gnet, resnet, vgg


def _signal(link, shape, seed=0):
    rng = np.random.RandomState(seed)
    for name, p in sorted(link.namedparams()):
        if name.endswith(("gamma", "beta")):
            base = 1.0 if name.endswith("gamma") else 0.0
            p.array[...] = base + rng.uniform(-0.3, 0.3, p.shape).astype(np.float32)
        elif name.endswith("/b"):  # small: in nets without BatchNorm, biases would drown the input
            p.array[...] = rng.uniform(-0.02, 0.02, p.shape).astype(np.float32)
    bns = [l for _, l in link.namedlinks() if isinstance(l, L.BatchNormalization)]
    if not bns:  # nothing to calibrate (VGG): spare the forward pass
        return
    for bn in bns:
        bn.decay = 0.0  # one batch sets the running statistics
    coarse = rng.uniform(-1.5, 1.5, (4, shape[1], 4, 4)).astype(np.float32)
    calib = np.repeat(np.repeat(coarse, -(-shape[2] // 4), 2), -(-shape[3] // 4), 3)[:, :, :shape[2], :shape[3]]
    with chainer.using_config("train", True), chainer.using_config("enable_backprop", False):
        link(calib + rng.normal(0, 0.3, calib.shape).astype(np.float32))
    for bn in bns:
        bn.decay = 0.9


def _perturb(link):
    ws = [p for n, p in sorted(link.namedparams()) if n.split("/")[-1].startswith("w") or n.endswith("/W")]
    ws = [p for p in ws if p.ndim >= 2]
    w = ws[len(ws) // 2]
    w.array *= 1 + 0.01 * np.random.RandomState(4).choice([-1.0, 1.0], w.shape).astype(np.float32)
    return link


class Head(chainer.Chain):
    """One named output of a vision model (they return a dict of layers)."""

    def __init__(self, model, layer):
        super().__init__()
        self.layer = layer
        with self.init_scope():
            self.m = model

    def forward(self, x):
        return self.m(x, layers=[self.layer])[self.layer]


def _vision(cls, layer, shape):
    np.random.seed(0)
    net = Head(cls(pretrained_model=None), layer)
    _signal(net, shape)
    return net


def resnet50():
    return _vision(resnet.ResNet50Layers, "fc6", (1, 3, 64, 64))


def googlenet():
    np.random.seed(0)
    net = Head(gnet.GoogLeNet(pretrained_model=None), "loss3_fc")
    for _, p in sorted(net.namedparams()):  # He init: without BatchNorm the default init fades out
        if p.ndim >= 2:
            p.array[...] = np.random.normal(0, np.sqrt(2.0 / np.prod(p.shape[1:])), p.shape)
    _signal(net, (1, 3, 224, 224))
    return net


def vgg16():
    np.random.seed(0)
    net = Head(vgg.VGG16Layers(pretrained_model=None), "fc8")
    rng = np.random.default_rng(0)
    for _, p in sorted(net.namedparams()):  # He init, drawn in float32 in place (fc6 alone is 411 MB)
        if p.ndim >= 2:
            rng.standard_normal(dtype=np.float32, out=p.array)
            p.array *= np.float32(np.sqrt(2.0 / np.prod(p.shape[1:])))
    _signal(net, (1, 3, 224, 224))
    return net


class Recurrent(chainer.Chain):
    """Linear -> L.LSTM over 3 steps (Chainer's interleaved a, i, f, o gates) -> Linear."""

    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.inp = L.Linear(5, 6)
            self.lstm = L.LSTM(6, 7)
            self.out = L.Linear(7, 4)

    def forward(self, x):  # x: (batch, 3, 5)
        self.lstm.reset_state()
        for t in range(x.shape[1]):
            h = self.lstm(F.tanh(self.inp(x[:, t])))
        return self.out(h)


def lstm():
    np.random.seed(0)
    net = Recurrent()
    for _, p in sorted(net.namedparams()):
        p.array[...] = np.random.uniform(-0.8, 0.8, p.shape)
    return net


class StepLSTM(chainer.Chain):
    """L.NStepLSTM, two layers (cuDNN-style gate weights W0..W7), last states of both."""

    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.rnn = L.NStepLSTM(2, 5, 6, 0.0)

    def forward(self, x):  # x: (batch, 3, 5), equal-length sequences
        hy, _, _ = self.rnn(None, None, list(F.separate(x, axis=0)))
        return F.concat([hy[0], hy[1]], axis=1)


def nstep_lstm():
    np.random.seed(0)
    net = StepLSTM()
    for _, p in sorted(net.namedparams()):  # wide enough that a 1% change of one gate's weight shows
        p.array[...] = np.random.uniform(-1.2, 1.2, p.shape)
    return net


def nstep_lstm_perturbed():
    return _perturb(nstep_lstm())


def resnet50_perturbed():
    return _perturb(resnet50())


def googlenet_perturbed():
    return _perturb(googlenet())


def lstm_perturbed():
    return _perturb(lstm())


def vgg16_perturbed():
    return _perturb(vgg16())
