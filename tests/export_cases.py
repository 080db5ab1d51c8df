"""The case table the IR exporter tests share: small torch models imported to the IR,
each with its input shape, tolerance and whether the Keras target supports it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn


@dataclass
class Case:
    id: str
    make: Callable[[], "nn.Module"]
    shape: tuple
    rtol: float = 1e-4
    atol: float = 1e-5
    keras: bool = True  # False: the Keras target must report this case as unsupported
    extra: dict = field(default_factory=dict)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.relu(x + self.conv2(self.relu(self.bn1(self.conv1(x)))))


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 2, 1)
        self.b = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x)], dim=1)


class ReshapeHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        y = self.conv(x)
        return self.fc(y.reshape(y.shape[0], -1))


class Recurrent(nn.Module):
    def __init__(self, kind: str, **kw):
        super().__init__()
        self.rnn = getattr(nn, kind)(5, 4, batch_first=True, **kw)

    def forward(self, x):
        return self.rnn(x)[0]


def _seq(*layers):
    return lambda: nn.Sequential(*layers)


def _bn(n):
    bn = nn.BatchNorm2d(n)
    with torch.no_grad():  # non-trivial running statistics
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 1.5)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    return bn


IMG = (2, 3, 6, 6)
CASES = [
    Case("conv2d", _seq(nn.Conv2d(3, 4, 3, padding=1)), IMG),
    Case("conv2d_stride_dilation", _seq(nn.Conv2d(3, 4, 3, stride=2, dilation=2, padding=2)), IMG, keras=False),
    Case("conv2d_groups", _seq(nn.Conv2d(4, 6, 3, groups=2)), (2, 4, 6, 6)),
    Case("conv2d_depthwise", _seq(nn.Conv2d(4, 8, 3, groups=4, padding=1)), (2, 4, 6, 6)),
    Case("conv1d", _seq(nn.Conv1d(3, 4, 3, padding=1)), (2, 3, 7)),
    Case("conv3d", _seq(nn.Conv3d(2, 3, 3, padding=1)), (1, 2, 4, 4, 4)),
    Case("convtranspose2d", _seq(nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1)), IMG),
    Case("maxpool_pad", _seq(nn.MaxPool2d(3, 2, 1)), IMG),
    Case("maxpool_ceil", _seq(nn.MaxPool2d(2, 2, ceil_mode=True)), (2, 3, 7, 7)),
    Case("avgpool", _seq(nn.AvgPool2d(2)), IMG),
    Case("avgpool_pad_include", _seq(nn.AvgPool2d(3, 2, 1)), IMG),
    Case("avgpool_pad_exclude", _seq(nn.AvgPool2d(3, 2, 1, count_include_pad=False)), IMG, keras=False),
    Case("global_avgpool", _seq(nn.Conv2d(3, 4, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()), IMG),
    Case("batchnorm_relu", lambda: nn.Sequential(nn.Conv2d(3, 4, 3), _bn(4), nn.ReLU()), IMG),
    Case("dense", _seq(nn.Flatten(), nn.Linear(3 * 36, 7), nn.Tanh(), nn.Linear(7, 3)), IMG),
    Case("leaky_relu", _seq(nn.LeakyReLU(0.2)), IMG),
    Case("elu", _seq(nn.ELU(0.7)), IMG),
    Case("sigmoid", _seq(nn.Sigmoid()), IMG),
    Case("gelu", _seq(nn.GELU()), IMG),
    Case("silu", _seq(nn.SiLU()), IMG),
    Case("hardswish", _seq(nn.Hardswish()), IMG),
    Case("relu6", _seq(nn.ReLU6()), IMG),
    Case("softplus", _seq(nn.Softplus()), IMG),
    Case("softmax_channels", _seq(nn.Softmax(dim=1)), IMG),
    Case("prelu", _seq(nn.Conv2d(3, 4, 1), nn.PReLU(4)), IMG),
    Case("concat", Concat, IMG),
    Case("residual", Residual, (2, 4, 6, 6)),
    Case("reshape_flatten_dense", ReshapeHead, IMG),
    Case("upsample_nearest", _seq(nn.Upsample(scale_factor=2, mode="nearest")), IMG),
    Case("lstm", lambda: Recurrent("LSTM"), (2, 4, 5)),
    Case("gru", lambda: Recurrent("GRU"), (2, 4, 5)),
    Case("rnn_tanh", lambda: Recurrent("RNN"), (2, 4, 5)),
    Case("lstm_bidirectional", lambda: Recurrent("LSTM", bidirectional=True), (2, 4, 5)),
    Case("gru_bidirectional", lambda: Recurrent("GRU", bidirectional=True), (2, 4, 5)),
    Case("lstm_stacked_bidirectional", lambda: Recurrent("LSTM", num_layers=2, bidirectional=True), (2, 4, 5)),
]


def build(case: Case):
    """(source module, input array, source output, IR graph)."""
    from convert.importers.torch import from_torch

    torch.manual_seed(0)
    model = case.make().eval()
    x = np.random.default_rng(0).standard_normal(case.shape).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    graph = from_torch(model, (torch.from_numpy(x),))
    return model, x, ref, graph
