"""Whole models PyTorch -> IR -> Keras -> IR -> PyTorch, numbers against the source torch model."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_close

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
nn = torch.nn


class ResNetTiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.block_conv1 = nn.Conv2d(8, 8, 3, padding=1)
        self.block_conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = torch.relu(self.bn(self.stem(x)))
        x = torch.relu(x + self.block_conv2(torch.relu(self.block_conv1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


class EncoderDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Conv2d(3, 4, 3, padding=1)
        self.down = nn.MaxPool2d(2)
        self.enc2 = nn.Conv2d(4, 8, 3, padding=1)
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.dec = nn.Conv2d(8, 2, 3, padding=1)

    def forward(self, x):
        e1 = torch.relu(self.enc1(x))
        e2 = torch.relu(self.enc2(self.down(e1)))
        return self.dec(torch.cat([self.up(e2), e1], dim=1))


class BiLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(5, 6, batch_first=True, bidirectional=True)
        self.head = nn.Linear(12, 3)

    def forward(self, x):
        return self.head(self.lstm(x)[0])


MODELS = [("residual_blocks", ResNetTiny, (2, 3, 8, 8)), ("encoder_decoder_skips", EncoderDecoder, (2, 3, 8, 8)),
          ("bidirectional_lstm", BiLSTM, (2, 4, 5))]


@pytest.mark.slow
@pytest.mark.parametrize("make,shape", [(m, s) for _, m, s in MODELS], ids=[i for i, _, _ in MODELS])
def test_torch_to_keras_to_torch(make, shape):
    from convert.exporters.keras import to_keras
    from convert.exporters.torch import to_torch
    from convert.importers.keras import from_keras
    from convert.importers.torch import from_torch

    torch.manual_seed(0)
    model = make().eval()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    kmodel = to_keras(from_torch(model, (torch.from_numpy(x),)))
    assert_close(np.asarray(kmodel(x)), ref, what="keras")
    back = to_torch(from_keras(kmodel))
    with torch.no_grad():
        out = back(torch.from_numpy(x)).numpy()
    assert_close(out, ref, what="torch again")
