"""The benchmark's four models, written for PyTorch and for Keras (random weights).

- resnet50: ResNet-50 v1 (bottleneck blocks, BatchNorm), 224x224, 25.6 M parameters.
- mobilenet: MobileNetV2-style (inverted residuals, depthwise 3x3, ReLU6), 224x224.
- unet: U-Net-style encoder-decoder (3 levels, ConvTranspose up-sampling, skip concats), 128x128.
- bilstm: 2-layer bidirectional LSTM (hidden 256) over 64 steps of 128 features, Dense head.

Each torch builder seeds torch itself, so every process builds identical weights.
"""
from __future__ import annotations

SHAPES = {  # torch / Caffe input shape (channels-first); Keras uses channels-last
    "resnet50": (1, 3, 224, 224),
    "mobilenet": (1, 3, 224, 224),
    "unet": (1, 3, 128, 128),
    "bilstm": (1, 64, 128),
}


def keras_shape(name: str) -> tuple:
    s = SHAPES[name]
    return (s[0], *s[2:], s[1]) if len(s) == 4 else s


# -- PyTorch --------------------------------------------------------------------------
def torch_model(name: str):
    import torch

    torch.manual_seed(0)
    model = {"resnet50": _t_resnet50, "mobilenet": _t_mobilenet, "unet": _t_unet, "bilstm": _t_bilstm}[name]()
    return model.eval()


def _t_resnet50():
    from torch import nn

    def cbr(cin, cout, k, s=1, relu=True):
        layers = [nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout)]
        return nn.Sequential(*layers, nn.ReLU()) if relu else nn.Sequential(*layers)

    class Bottleneck(nn.Module):
        def __init__(self, cin, width, stride):
            super().__init__()
            self.body = nn.Sequential(cbr(cin, width, 1), cbr(width, width, 3, stride), cbr(width, width * 4, 1, relu=False))
            self.short = None if stride == 1 and cin == width * 4 else cbr(cin, width * 4, 1, stride, relu=False)
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.body(x) + (x if self.short is None else self.short(x)))

    blocks, cin = [], 64
    for width, n, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(n):
            blocks.append(Bottleneck(cin, width, stride if i == 0 else 1))
            cin = width * 4
    return nn.Sequential(cbr(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1), *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(2048, 1000))


def _t_mobilenet():
    from torch import nn

    def cbr(cin, cout, k, s=1, groups=1, act=True):
        layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        return nn.Sequential(*layers, nn.ReLU6()) if act else nn.Sequential(*layers)

    class Inverted(nn.Module):
        def __init__(self, cin, cout, stride, t):
            super().__init__()
            hid = cin * t
            self.body = nn.Sequential(*([cbr(cin, hid, 1)] if t != 1 else []), cbr(hid, hid, 3, stride, hid),
                                      cbr(hid, cout, 1, act=False))
            self.res = stride == 1 and cin == cout

        def forward(self, x):
            return x + self.body(x) if self.res else self.body(x)

    layers, cin = [cbr(3, 32, 3, 2)], 32
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1)):
        for i in range(n):
            layers.append(Inverted(cin, c, s if i == 0 else 1, t))
            cin = c
    return nn.Sequential(*layers, cbr(cin, 1280, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, 1000))


def _t_unet():
    import torch
    from torch import nn

    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                             nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

    class UNet(nn.Module):
        def __init__(self, c=32):
            super().__init__()
            self.e1, self.e2, self.e3, self.mid = block(3, c), block(c, 2 * c), block(2 * c, 4 * c), block(4 * c, 8 * c)
            self.pool = nn.MaxPool2d(2)
            self.u3, self.d3 = nn.ConvTranspose2d(8 * c, 4 * c, 2, 2), block(8 * c, 4 * c)
            self.u2, self.d2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, 2), block(4 * c, 2 * c)
            self.u1, self.d1 = nn.ConvTranspose2d(2 * c, c, 2, 2), block(2 * c, c)
            self.head = nn.Conv2d(c, 2, 1)

        def forward(self, x):
            e1 = self.e1(x)
            e2 = self.e2(self.pool(e1))
            e3 = self.e3(self.pool(e2))
            m = self.mid(self.pool(e3))
            d3 = self.d3(torch.cat([self.u3(m), e3], 1))
            d2 = self.d2(torch.cat([self.u2(d3), e2], 1))
            d1 = self.d1(torch.cat([self.u1(d2), e1], 1))
            return self.head(d1)

    return UNet()


def _t_bilstm():
    from torch import nn

    class BiLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(128, 256, num_layers=2, batch_first=True, bidirectional=True)
            self.fc = nn.Linear(512, 10)

        def forward(self, x):
            return self.fc(self.lstm(x)[0])

    return BiLSTM()


# -- Keras ----------------------------------------------------------------------------
def keras_model(name: str):
    import keras

    keras.utils.set_random_seed(0)
    L = keras.layers
    if name == "resnet50":
        return keras.applications.ResNet50(weights=None, input_shape=keras_shape(name)[1:])
    if name == "mobilenet":
        return keras.applications.MobileNetV2(weights=None, input_shape=keras_shape(name)[1:])
    if name == "bilstm":
        x = inp = keras.Input(keras_shape(name)[1:])
        x = L.Bidirectional(L.LSTM(256, return_sequences=True))(x)
        x = L.Bidirectional(L.LSTM(256, return_sequences=True))(x)
        return keras.Model(inp, L.Dense(10)(x))

    def block(x, c):
        for _ in range(2):
            x = L.Conv2D(c, 3, padding="same", use_bias=False)(x)
            x = L.ReLU()(L.BatchNormalization()(x))
        return x

    c = 32
    inp = keras.Input(keras_shape(name)[1:])
    e1 = block(inp, c)
    e2 = block(L.MaxPooling2D()(e1), 2 * c)
    e3 = block(L.MaxPooling2D()(e2), 4 * c)
    m = block(L.MaxPooling2D()(e3), 8 * c)
    d3 = block(L.Concatenate()([L.Conv2DTranspose(4 * c, 2, 2)(m), e3]), 4 * c)
    d2 = block(L.Concatenate()([L.Conv2DTranspose(2 * c, 2, 2)(d3), e2]), 2 * c)
    d1 = block(L.Concatenate()([L.Conv2DTranspose(c, 2, 2)(d2), e1]), c)
    return keras.Model(inp, L.Conv2D(2, 1)(d1))
