"""IR -> LiteRT (.tflite) writer, per op: small torch models imported to the IR, written as
LiteRT flatbuffers, run in LiteRT's interpreter and compared against the SOURCE torch
model at two batch sizes (the batch is dynamic). Odd, unequal sizes, strides, dilations,
every padding form and fused activations; the interior TRANSPOSE count is checked."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

from helpers import assert_close

torch = pytest.importorskip("torch")
pytest.importorskip("ai_edge_litert")
nn = torch.nn
F = torch.nn.functional


@dataclass
class Case:
    id: str
    make: Callable[[], "nn.Module"]
    shape: tuple = (2, 3, 9, 7)
    rtol: float = 1e-4
    atol: float = 1e-5


class Fn(nn.Module):
    """A module from a function of its input and a (3 -> 4) conv."""

    def __init__(self, fn, cin=3, cout=4):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.fn = fn

    def forward(self, x):
        return self.fn(self, x)


class PreluNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.act = nn.PReLU(4, init=0.2)

    def forward(self, x):
        return self.act(self.conv(x))


class Head(nn.Module):
    """conv -> flatten of a real feature map -> linear: the flatten order must survive NHWC."""

    def __init__(self, pool: bool):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.fc = nn.Linear(4 if pool else 4 * 5 * 4, 5)
        self.pool = pool

    def forward(self, x):
        y = torch.relu(self.conv(x))
        y = F.adaptive_avg_pool2d(y, 1) if self.pool else y
        return torch.softmax(self.fc(y.flatten(1)), -1)


class LayerNormNet(nn.Module):
    """conv, then LayerNorm over the channels (ConvNeXt's channels-last form) or over H, W."""

    def __init__(self, over_channels: bool):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.norm = nn.LayerNorm(4 if over_channels else [9, 7], eps=1e-5)
        with torch.no_grad():  # not the identity affine
            self.norm.weight.uniform_(0.5, 1.5)
            self.norm.bias.uniform_(-0.5, 0.5)
        self.over_channels = over_channels

    def forward(self, x):
        y = self.conv(x)
        if self.over_channels:
            return torch.relu(self.norm(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
        return self.norm(y)


def _seq(*layers):
    return lambda: nn.Sequential(*layers)


def _bn(n):
    bn = nn.BatchNorm2d(n)
    with torch.no_grad():  # calibrated-looking statistics, not the identity
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    return bn


CASES = [
    Case("conv_same", _seq(nn.Conv2d(3, 5, 3, padding=1))),
    Case("conv_stride2_pad1", _seq(nn.Conv2d(3, 4, 3, stride=2, padding=1))),
    Case("conv_dilated", _seq(nn.Conv2d(3, 4, 3, padding=2, dilation=2))),
    Case("conv_valid_rect", _seq(nn.Conv2d(3, 4, (2, 3), stride=(2, 1)))),
    Case("conv_asym_pad", _seq(nn.ZeroPad2d((1, 2, 0, 1)), nn.Conv2d(3, 4, 3))),
    Case("depthwise_s2", _seq(nn.Conv2d(3, 6, 3, stride=2, padding=1, groups=3))),
    Case("grouped_same", _seq(nn.Conv2d(4, 6, 3, padding=1, groups=2)), shape=(2, 4, 9, 7)),
    Case("grouped_s2_dil_relu", _seq(nn.Conv2d(6, 4, 3, stride=2, dilation=2, padding=(1, 2), groups=2), nn.ReLU()),
         shape=(2, 6, 9, 7)),
    Case("conv1d_same", _seq(nn.Conv1d(3, 4, 3, padding=1)), shape=(2, 3, 11)),
    Case("conv1d_s2_dil_relu", _seq(nn.Conv1d(3, 5, 4, stride=2, dilation=2, padding=3), nn.ReLU()), shape=(2, 3, 13)),
    Case("conv1d_depthwise", _seq(nn.Conv1d(3, 6, 5, padding=2, groups=3)), shape=(2, 3, 11)),
    Case("conv1d_grouped_valid", _seq(nn.Conv1d(4, 6, 3, groups=2)), shape=(2, 4, 11)),
    Case("conv3d_same", _seq(nn.Conv3d(3, 4, 3, padding=1)), shape=(2, 3, 5, 6, 7)),
    Case("conv3d_s2_dil_relu6", _seq(nn.Conv3d(3, 4, (2, 3, 3), stride=(1, 2, 2), dilation=(1, 1, 2),
                                               padding=(0, 1, 2)), nn.ReLU6()), shape=(2, 3, 5, 6, 7)),
    Case("convT_s2_valid", _seq(nn.ConvTranspose2d(3, 4, 3, stride=2))),
    Case("convT_pad_outpad_relu", _seq(nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), nn.ReLU())),
    Case("convT_rect_nobias", _seq(nn.ConvTranspose2d(3, 5, (2, 4), stride=(1, 3), padding=(0, 2), bias=False))),
    Case("convT_outpad_past_kernel", _seq(nn.ConvTranspose2d(3, 4, 3, stride=3, output_padding=2))),
    Case("convT1d_pad", _seq(nn.ConvTranspose1d(3, 4, 4, stride=2, padding=1)), shape=(2, 3, 11)),
    Case("depthwise_same", _seq(nn.Conv2d(3, 3, 5, padding=2, groups=3), nn.ReLU6())),
    Case("conv_relu_fused", _seq(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())),
    Case("conv_tanh_fused", _seq(nn.Conv2d(3, 4, 1), nn.Tanh())),
    Case("conv_bn_relu", lambda: nn.Sequential(nn.Conv2d(3, 4, 3), _bn(4), nn.ReLU())),
    Case("bn_alone", lambda: nn.Sequential(_bn(3))),
    Case("maxpool_s2_pad", _seq(nn.MaxPool2d(3, 2, padding=1))),
    Case("maxpool_ceil", _seq(nn.MaxPool2d(2, 2, ceil_mode=True))),
    Case("avgpool_valid", _seq(nn.AvgPool2d(2, 2))),
    Case("avgpool_count_pad", _seq(nn.AvgPool2d(3, 1, padding=1))),
    Case("avgpool_same_excl", _seq(nn.AvgPool2d(3, 1, padding=1, count_include_pad=False))),
    Case("global_pools", lambda: Fn(lambda m, x: F.adaptive_avg_pool2d(m.conv(x), 1)
                                    + F.adaptive_max_pool2d(m.conv(x), 1))),
    Case("residual_add_relu", lambda: Fn(lambda m, x: torch.relu(m.conv(x) + x[:, :1]), cout=4)),
    Case("mul_sub_div", lambda: Fn(lambda m, x: (m.conv(x) * 1.5 - x.mean(1, keepdim=True)) / 2.0)),
    Case("concat_channels", lambda: Fn(lambda m, x: torch.cat([m.conv(x), x], 1))),
    # LiteRT's CONCATENATION kernel refuses a fused activation: the ReLU stays an operator
    Case("concat_relu", lambda: Fn(lambda m, x: torch.relu(torch.cat([m.conv(x), x], 1)))),
    Case("layernorm_channels", lambda: LayerNormNet(True)),
    Case("layernorm_spatial", lambda: LayerNormNet(False)),
    Case("split_channels_equal", lambda: Fn(lambda m, x: torch.chunk(m.conv(x), 2, 1)[1] * 2.0)),
    Case("split_channels_sizes", lambda: Fn(lambda m, x: torch.relu(torch.split(m.conv(x), [1, 3], 1)[1]) -
                                            torch.split(m.conv(x), [1, 3], 1)[0])),
    Case("sigmoid_hardswish", _seq(nn.Conv2d(3, 4, 1), nn.Hardswish(), nn.Sigmoid())),
    Case("leaky_elu", _seq(nn.Conv2d(3, 4, 1), nn.LeakyReLU(0.1), nn.ELU())),
    Case("gelu_silu", _seq(nn.Conv2d(3, 4, 1), nn.GELU(), nn.SiLU()), atol=1e-4),
    Case("prelu", PreluNet),
    Case("softmax_channels", _seq(nn.Conv2d(3, 4, 1), nn.Softmax(dim=1))),
    Case("clip", lambda: Fn(lambda m, x: torch.clamp(m.conv(x), -0.3, 0.4))),
    Case("upsample_nearest", _seq(nn.Upsample(scale_factor=2, mode="nearest"))),
    Case("upsample_bilinear", _seq(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))),
    Case("upsample_bilinear_ac", _seq(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True))),
    Case("reflect_pad", _seq(nn.ReflectionPad2d(1), nn.Conv2d(3, 4, 3))),
    Case("mean_spatial", lambda: Fn(lambda m, x: m.conv(x).mean((2, 3)))),
    Case("gap_linear_head", lambda: Head(pool=True)),
    Case("flatten_linear_head", lambda: Head(pool=False)),
    Case("channels_last_linear", lambda: Fn(lambda m, x: F.linear(m.conv(x).permute(0, 2, 3, 1),
                                                                    torch.ones(3, 4) * 0.25))),
]


def build(case: Case, seed: int = 0):
    import convert
    from convert.api import prepare

    torch.manual_seed(seed)
    model = case.make().eval()
    x = torch.randn(*case.shape)
    graph, _ = prepare(convert.from_torch(model, (x,)))
    return model, x, graph


def run_file(path, graph, x: np.ndarray) -> np.ndarray:
    from convert.exporters.tflite import runner

    out = runner(str(path), graph=graph)({graph.inputs[0].name: x})
    return out[graph.outputs[0].name]


def write(graph, path, **options):
    from convert.exporters.tflite import to_tflite

    data, ctx = to_tflite(graph, **options)
    path.write_bytes(data)
    return ctx


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_tflite_matches_torch(case, tmp_path):
    from convert.exporters.tflite import unsupported

    model, x, graph = build(case)
    assert unsupported(graph) == []
    ctx = write(graph, tmp_path / "m.tflite", io_layout="nhwc")
    assert ctx.transposes == 0, f"{case.id}: {ctx.transposes} TRANSPOSE inside a channels-last graph"
    for batch in (case.shape[0], 3):  # the dynamic batch, at two sizes
        xb = torch.randn(batch, *case.shape[1:])
        with torch.no_grad():
            ref = model(xb).numpy()
        assert_close(run_file(tmp_path / "m.tflite", graph, xb.numpy()), ref, case.rtol, case.atol, case.id)


def test_nchw_interface_has_transposes_only_at_the_boundary(tmp_path):
    case = next(c for c in CASES if c.id == "conv_relu_fused")
    model, x, graph = build(case)
    ctx = write(graph, tmp_path / "m.tflite")  # default: the IR's NCHW interface
    assert ctx.transposes == 2  # one in, one out
    with torch.no_grad():
        assert_close(run_file(tmp_path / "m.tflite", graph, x.numpy()), model(x).numpy(), what=case.id)


def test_unsupported_ops_listed_at_once(tmp_path):
    from convert.errors import UnsupportedError
    from convert.exporters.tflite import save, unsupported

    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.grouped = nn.ConvTranspose2d(4, 4, 3, groups=2)
            self.pool = nn.AvgPool2d(3, 2, padding=1, count_include_pad=False)

        def forward(self, x):
            return torch.erf(self.grouped(x)), self.pool(x)  # independent gaps

    torch.manual_seed(0)
    import convert

    graph = convert.from_torch(Bad().eval(), (torch.randn(1, 4, 8, 8),))
    problems = unsupported(graph)
    assert sorted(p.layer_type for p in problems) == ["AveragePool", "ConvTranspose", "Erf"], problems
    with pytest.raises(UnsupportedError):
        save(graph, tmp_path / "never.tflite")
    assert not (tmp_path / "never.tflite").exists()
