"""PyTorch -> IR -> Caffe, read back by the Caffe importer and run in onnxruntime,
against torch's own output (Caffe has no runtime here). Includes ceil and floor
pooling, count_include_pad both ways, asymmetric padding rewrites and the CLI's
all-at-once refusal (exit 3, nothing written)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

RTOL, ATOL = 1e-4, 1e-5  # fp32, as everywhere


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.proj = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.conv2(y) + x)
        return torch.cat([y, self.proj(y) * 2.0 - 1.0], 1)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.MaxPool2d(3, 2, ceil_mode=True), nn.Conv2d(8, 8, 3, groups=2),
                                      nn.ReLU(), nn.AvgPool2d(2))
        self.fc = nn.Linear(8 * 1 * 1, 5)

    def forward(self, x):
        return torch.softmax(self.fc(torch.flatten(self.features(x), 1)), dim=1)


class PadConv(nn.Module):
    """Zero padding before a convolution: symmetric, and a one-sided one the exporter crops."""

    def __init__(self):
        super().__init__()
        self.pad = nn.ZeroPad2d(2)
        self.c1 = nn.Conv2d(3, 4, 3)
        self.c2 = nn.Conv2d(4, 4, 2)

    def forward(self, x):
        y = self.c1(self.pad(x))
        return self.c2(nn.functional.pad(y, (1, 0, 1, 0)))


def _seq(*layers):
    return lambda: nn.Sequential(*layers)


CASES = {  # id: (model factory, input shape)
    "conv_bn_relu_maxpool": (_seq(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2)),
                             (1, 3, 9, 9)),
    "maxpool_floor_odd": (_seq(nn.MaxPool2d(3, 2)), (1, 2, 10, 11)),
    "maxpool_ceil": (_seq(nn.MaxPool2d(3, 2, ceil_mode=True)), (1, 2, 10, 11)),
    "maxpool_pad_floor": (_seq(nn.MaxPool2d(3, 2, padding=1)), (1, 2, 10, 9)),
    "avgpool_pad_include": (_seq(nn.AvgPool2d(3, 2, padding=1)), (1, 2, 9, 10)),
    "avgpool_pad_exclude": (_seq(nn.AvgPool2d(3, 2, padding=1, count_include_pad=False)), (1, 2, 9, 10)),
    "avgpool_ceil_pad": (_seq(nn.AvgPool2d(3, 2, padding=1, ceil_mode=True)), (1, 2, 10, 10)),
    "global_pools": (_seq(nn.Conv2d(3, 4, 3, dilation=2), nn.AdaptiveAvgPool2d(1)), (1, 3, 9, 9)),
    "depthwise_stride": (_seq(nn.Conv2d(4, 8, 3, stride=2, groups=4, padding=1, bias=False)), (1, 4, 8, 8)),
    "deconv_output_padding": (_seq(nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1)),
                              (1, 3, 5, 5)),
    "deconv_group": (_seq(nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1, groups=2)), (1, 4, 3, 4)),
    "upsample_nearest": (_seq(nn.Upsample(scale_factor=2)), (1, 3, 4, 5)),
    "activations": (_seq(nn.LeakyReLU(0.2), nn.ELU(0.5), nn.PReLU(3), nn.Hardswish(), nn.SiLU(), nn.Tanh(),
                         nn.Sigmoid(), nn.ReLU6(), nn.Softplus(), nn.Hardsigmoid()), (1, 3, 4, 4)),
    "linear_softmax": (_seq(nn.Flatten(), nn.Linear(12, 6), nn.ReLU(), nn.Dropout(0.3), nn.Linear(6, 4),
                            nn.Softmax(dim=1)), (2, 3, 2, 2)),
    "residual_concat": (Residual, (1, 4, 6, 6)),
    "classifier": (Classifier, (2, 3, 9, 9)),
    "pad_then_conv": (PadConv, (1, 3, 5, 6)),
}


def _randomise(model):
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5, generator=g)
            m.running_var.uniform_(0.5, 1.5, generator=g)
            m.weight.data.uniform_(0.5, 1.5, generator=g)
            m.bias.data.uniform_(-0.3, 0.3, generator=g)
    return model.eval()


@pytest.mark.parametrize("case", list(CASES))
def test_torch_to_caffe(case, tmp_path):
    from convert.exporters.caffe import save, unsupported
    from convert.verification.caffe_runner import runner
    from convert.importers.torch import from_torch
    from convert.api import optimize_graph as optimize

    factory, shape = CASES[case]
    torch.manual_seed(0)
    model = _randomise(factory())
    x = torch.randn(*shape)
    graph = from_torch(model, (x,))
    assert unsupported(graph) == []
    save(optimize(graph), tmp_path / "deploy.prototxt")
    run = runner(str(tmp_path / "deploy.prototxt"))
    for batch in sorted({shape[0], 3}):  # the net reshapes to another batch, as Caffe does
        xb = torch.randn(batch, *shape[1:])
        with torch.no_grad():
            want = model(xb).numpy()
        got = run({graph.inputs[0].name: xb.numpy()})[graph.outputs[0].name]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=f"{case} batch {batch}")


class Inexpressible(nn.Module):
    def __init__(self):
        super().__init__()
        self.pad = nn.ZeroPad2d((0, 1, 0, 1))  # TF-style 'same' before a stride-2 conv
        self.conv = nn.Conv2d(3, 4, 3, stride=2)
        self.act = nn.GELU()

    def forward(self, x):
        return torch.floor(self.act(self.conv(self.pad(x))))


def test_cli_refuses_all_at_once(tmp_path):
    from click.testing import CliRunner

    from convert.cli.main import main

    ep = torch.export.export(Inexpressible().eval(), (torch.randn(1, 3, 8, 8),))
    src = tmp_path / "model.pt2"
    torch.export.save(ep, str(src))
    out = tmp_path / "out"
    out.mkdir()
    r = CliRunner().invoke(main, ["convert", str(src), "-o", str(out / "deploy.prototxt")])
    assert r.exit_code == 3, r.output
    for layer in ("conv (Conv)", "act (Gelu)", "(Floor)"):  # fold-pad gives the conv the asymmetric pads
        assert layer in r.output
    assert list(out.iterdir()) == []


def test_cli_convert_and_verify(tmp_path):
    from click.testing import CliRunner

    from convert.cli.main import main

    torch.manual_seed(0)
    model = _randomise(Classifier())
    ep = torch.export.export(model, (torch.randn(2, 3, 9, 9),),
                             dynamic_shapes=({0: torch.export.Dim("batch")},))
    src = tmp_path / "model.pt2"
    torch.export.save(ep, str(src))
    r = CliRunner().invoke(main, ["convert", str(src), "-o", str(tmp_path / "net.caffemodel"), "--verify"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt2", "net.caffemodel", "net.prototxt"]
