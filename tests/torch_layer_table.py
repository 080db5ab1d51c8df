"""The PyTorch importer's layer table (cases by family; ``ALL`` and the torch.export
subset ``EXPORT``), shared by the layer tests and the support-matrix probes."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from torch_cases import Case, Fn  # noqa: E402

F = nn.functional


def conv_bn(cin, cout, **kw):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, **kw), nn.BatchNorm2d(cout))


CONV = [
    Case("conv1d", lambda: nn.Conv1d(3, 4, 3), ((2, 3, 9),)),
    Case("conv1d_stride_pad_nobias", lambda: nn.Conv1d(3, 4, 3, stride=2, padding=2, bias=False), ((2, 3, 9),)),
    Case("conv1d_same_dilation", lambda: nn.Conv1d(4, 4, 4, padding="same", dilation=2), ((2, 4, 9),)),
    Case("conv2d", lambda: nn.Conv2d(3, 4, 3), ((2, 3, 7, 8),)),
    Case("conv2d_stride_pad", lambda: nn.Conv2d(3, 4, 3, stride=2, padding=(1, 2)), ((2, 3, 7, 8),)),
    Case("conv2d_groups", lambda: nn.Conv2d(4, 6, 3, groups=2, padding=1), ((2, 4, 6, 6),)),
    Case("conv2d_depthwise", lambda: nn.Conv2d(4, 4, 3, groups=4, padding=1, bias=False), ((2, 4, 6, 6),)),
    Case("conv2d_dilation", lambda: nn.Conv2d(3, 4, 3, dilation=2), ((2, 3, 9, 9),)),
    Case("conv2d_same_even_kernel", lambda: nn.Conv2d(3, 4, 4, padding="same"), ((2, 3, 7, 7),)),
    Case("conv2d_valid", lambda: nn.Conv2d(3, 4, 3, padding="valid"), ((2, 3, 7, 7),)),
    Case("conv2d_asymmetric_pad", lambda: Fn(lambda m, x: m.c(F.pad(x, (0, 1, 1, 0))), c=nn.Conv2d(3, 4, 3, stride=2)),
         ((2, 3, 8, 8),)),
    Case("conv3d", lambda: nn.Conv3d(2, 3, 3, padding=1, stride=(1, 2, 2)), ((2, 2, 4, 5, 5),)),
    Case("convtranspose1d", lambda: nn.ConvTranspose1d(3, 4, 3, stride=2), ((2, 3, 5),)),
    Case("convtranspose2d_outpad", lambda: nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1),
         ((2, 4, 4, 5),)),
    Case("convtranspose2d_groups_dilation", lambda: nn.ConvTranspose2d(4, 6, 3, groups=2, dilation=2, bias=False),
         ((2, 4, 4, 4),)),
    Case("conv_traced_at_batch1", lambda: nn.Conv2d(3, 4, 3), ((1, 3, 6, 6),), batches=(1, 3)),
    Case("conv_bn_relu", lambda: nn.Sequential(conv_bn(3, 4, padding=1), nn.ReLU()), ((2, 3, 6, 6),)),
]

POOL = [
    Case("maxpool1d", lambda: nn.MaxPool1d(2), ((2, 3, 9),)),
    Case("maxpool2d", lambda: nn.MaxPool2d(3, 2, 1), ((2, 3, 8, 8),)),
    Case("maxpool2d_ceil", lambda: nn.MaxPool2d(3, 2, ceil_mode=True), ((2, 3, 8, 8),)),
    Case("maxpool2d_dilation", lambda: nn.MaxPool2d(2, 1, dilation=2), ((2, 3, 6, 6),)),
    Case("maxpool3d", lambda: nn.MaxPool3d(2), ((2, 2, 4, 4, 4),)),
    Case("avgpool1d", lambda: nn.AvgPool1d(3, 2, 1), ((2, 3, 9),)),
    Case("avgpool2d", lambda: nn.AvgPool2d(2), ((2, 3, 8, 8),)),
    Case("avgpool2d_pad_include", lambda: nn.AvgPool2d(3, 2, 1), ((2, 3, 8, 8),)),
    Case("avgpool2d_pad_exclude", lambda: nn.AvgPool2d(3, 2, 1, count_include_pad=False), ((2, 3, 8, 8),)),
    Case("avgpool2d_ceil", lambda: nn.AvgPool2d(3, 2, ceil_mode=True), ((2, 3, 8, 8),)),
    Case("avgpool2d_ceil_pad", lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True), ((2, 3, 8, 8),)),
    Case("avgpool3d", lambda: nn.AvgPool3d(2), ((2, 2, 4, 4, 4),)),
    Case("adaptive_avg_to1", lambda: nn.AdaptiveAvgPool2d(1), ((2, 3, 5, 7),)),
    Case("adaptive_avg_divisor", lambda: nn.AdaptiveAvgPool2d((2, 3)), ((2, 3, 4, 6),)),
    Case("adaptive_avg1d", lambda: nn.AdaptiveAvgPool1d(2), ((2, 3, 8),)),
    Case("adaptive_max_to1", lambda: nn.AdaptiveMaxPool2d(1), ((2, 3, 5, 5),)),
    Case("global_mean", lambda: Fn(lambda m, x: x.mean((2, 3), keepdim=True)), ((2, 3, 5, 5),)),
]

NORM = [
    Case("batchnorm1d_2d_input", lambda: nn.BatchNorm1d(5), ((2, 5),)),
    Case("batchnorm1d_3d_input", lambda: nn.BatchNorm1d(4), ((2, 4, 6),)),
    Case("batchnorm2d", lambda: nn.BatchNorm2d(3), ((2, 3, 4, 4),)),
    Case("batchnorm2d_no_affine", lambda: nn.BatchNorm2d(3, affine=False), ((2, 3, 4, 4),)),
    Case("layernorm", lambda: nn.LayerNorm(6), ((2, 4, 6),)),
    Case("layernorm_2axes", lambda: nn.LayerNorm((4, 6)), ((2, 4, 6),)),
    Case("dropout", lambda: nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.3)), ((2, 4),)),
    Case("dropout2d", lambda: nn.Sequential(nn.Conv2d(3, 3, 1), nn.Dropout2d(0.3)), ((2, 3, 4, 4),)),
]

DENSE = [
    Case("linear_2d", lambda: nn.Linear(6, 4), ((2, 6),)),
    Case("linear_3d", lambda: nn.Linear(6, 4), ((2, 5, 6),)),
    Case("linear_nobias", lambda: nn.Linear(6, 4, bias=False), ((2, 6),)),
    Case("embedding", lambda: nn.Embedding(10, 4), ((2, 5),), int_high={0: 10}),
    Case("matmul", lambda: Fn(lambda m, a, b: a @ b), ((2, 3, 4), (2, 4, 5))),
    Case("bmm", lambda: Fn(lambda m, a, b: torch.bmm(a, b)), ((2, 3, 4), (2, 4, 5))),
    Case("parameter_and_buffer", lambda: ParamBuf(), ((2, 3, 4),)),
]


class ParamBuf(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.randn(3, 1))
        self.register_buffer("shift", torch.randn(4))

    def forward(self, x):
        return x * self.scale + self.shift - torch.tensor([0.5]) + 2.0


def act(mod):
    extra = mod.extra_repr()
    for a, b in ((" ", ""), ("=", ""), (",", "_"), (".", "p"), ("'", "")):
        extra = extra.replace(a, b)
    return Case(mod.__class__.__name__ + (f"_{extra}" if extra else ""), lambda: mod, ((2, 3, 5),))


ACT = [act(m) for m in [
    nn.ReLU(), nn.LeakyReLU(0.2), nn.ELU(0.7), nn.SELU(), nn.CELU(1.3), nn.Sigmoid(), nn.Hardsigmoid(),
    nn.Hardswish(), nn.Tanh(), nn.GELU(), nn.GELU(approximate="tanh"), nn.SiLU(), nn.Mish(), nn.ReLU6(),
    nn.Hardtanh(-0.5, 0.8), nn.Softplus(), nn.Softplus(beta=2.0), nn.Softsign(), nn.Softmax(dim=1),
    nn.LogSoftmax(dim=-1),
]] + [
    Case("prelu_single", lambda: nn.PReLU(), ((2, 3, 4, 4),)),
    Case("prelu_per_channel", lambda: nn.PReLU(3, init=0.1), ((2, 3, 4, 4),)),
    Case("clamp", lambda: Fn(lambda m, x: torch.clamp(x, -0.5, 0.3)), ((2, 3, 5),)),
    Case("clamp_min", lambda: Fn(lambda m, x: x.clamp(min=0.1)), ((2, 3, 5),)),
]

SHAPE = [
    Case("residual_add_sub_mul_div", lambda: Fn(lambda m, a, b: (a + b) * a - b / (b.abs() + 1)),
         ((2, 3, 4), (2, 3, 4))),
    Case("cat", lambda: Fn(lambda m, a, b: torch.cat([a, b, a], 1)), ((2, 3, 4), (2, 2, 4))),
    Case("chunk", lambda: Fn(lambda m, x: torch.chunk(x, 3, 1)[1] * 2), ((2, 6, 4),)),
    Case("split_sizes", lambda: Fn(lambda m, x: torch.split(x, [1, 5], 1)), ((2, 6, 4),)),
    Case("slice_step", lambda: Fn(lambda m, x: x[:, 1:5:2, -3:]), ((2, 6, 5),)),
    Case("select", lambda: Fn(lambda m, x: x[:, 2]), ((2, 6, 5),)),
    Case("flatten", lambda: Fn(lambda m, x: x.flatten(1)), ((2, 3, 4, 5),)),
    Case("view_batch", lambda: Fn(lambda m, x: x.view(x.shape[0], -1, 2)), ((2, 3, 4),)),
    Case("reshape_batch_infer", lambda: Fn(lambda m, x: x.reshape(-1, 4)), ((2, 3, 4),)),
    Case("permute", lambda: Fn(lambda m, x: x.permute(0, 2, 3, 1)), ((2, 3, 4, 5),)),
    Case("transpose", lambda: Fn(lambda m, x: x.transpose(1, 2).contiguous()), ((2, 3, 4),)),
    Case("squeeze_unsqueeze", lambda: Fn(lambda m, x: x.unsqueeze(1).squeeze(3)), ((2, 3, 1, 4),)),
    Case("channel_shuffle", lambda: Fn(lambda m, x: x.view(x.shape[0], 2, 3, 4, 4).transpose(1, 2)
                                       .reshape(x.shape[0], 6, 4, 4)), ((2, 6, 4, 4),)),
    Case("pixel_shuffle", lambda: nn.PixelShuffle(2), ((2, 8, 3, 3),)),
    Case("pixel_unshuffle", lambda: nn.PixelUnshuffle(2), ((2, 3, 4, 6),)),
    Case("upsample_nearest_scale", lambda: nn.Upsample(scale_factor=2), ((2, 3, 4, 5),)),
    Case("upsample_nearest_size", lambda: Fn(lambda m, x: F.interpolate(x, size=(8, 15))), ((2, 3, 4, 5),)),
    Case("upsample_bilinear", lambda: nn.Upsample(scale_factor=2, mode="bilinear"), ((2, 3, 4, 5),)),
    Case("upsample_bilinear_align", lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
         ((2, 3, 4, 5),)),
    Case("interp_bilinear_size", lambda: Fn(lambda m, x: F.interpolate(x, size=(6, 10), mode="bilinear")),
         ((2, 3, 4, 5),)),
    Case("upsample_nearest1d", lambda: nn.Upsample(scale_factor=3), ((2, 3, 4),)),
    Case("pad_constant", lambda: Fn(lambda m, x: F.pad(x, (1, 2, 0, 1), value=0.5)), ((2, 3, 4, 4),)),
    Case("pad_reflect", lambda: Fn(lambda m, x: F.pad(x, (1, 2, 2, 1), mode="reflect")), ((2, 3, 4, 4),)),
    Case("pad_replicate", lambda: Fn(lambda m, x: F.pad(x, (1, 2, 2, 1), mode="replicate")), ((2, 3, 4, 4),)),
    Case("reduce_mean_amax_sum", lambda: Fn(lambda m, x: (x.mean(1), x.amax(-1, keepdim=True), x.sum((1, 2)))),
         ((2, 3, 4),)),
    Case("stack_unbind", lambda: Fn(lambda m, x: torch.stack(list(torch.unbind(x, 1))[::-1], 2)), ((2, 3, 4),),
         fx=False),  # list() of a traced value: torch.fx cannot trace it
    Case("expand_repeat", lambda: Fn(lambda m, x: (x[:, :1].expand(-1, 3, 4), x.repeat(1, 2, 1))), ((2, 3, 4),)),
    Case("pow_maximum_rsub", lambda: Fn(lambda m, a, b: torch.maximum(a, b) ** 2 + (1 - a)), ((2, 3), (2, 3))),
    Case("floor_divide", lambda: Fn(lambda m, a: torch.div(a, 0.3, rounding_mode="floor")), ((2, 5),)),
    Case("addmm", lambda: Fn(lambda m, a: torch.addmm(m.b, a, m.w), b=nn.Parameter(torch.randn(3)),
                             w=nn.Parameter(torch.randn(4, 3))), ((2, 4),)),
    Case("upsample_trilinear", lambda: nn.Upsample(scale_factor=2, mode="trilinear"), ((2, 2, 2, 3, 3),)),
    Case("constant_used", lambda: Fn(lambda m, x: x + torch.ones(3, 4) * 0.25), ((2, 3, 4),)),
]


def rnn_case(id_, cls, shape, with_state=False, **kw):
    """Without states the batch is dynamic when batch_first; given states (layers*dirs,
    batch, hidden) carry the batch on axis 1, so those cases are traced statically."""
    layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    hidden = kw["hidden_size"]
    bf = kw.get("batch_first", False)

    def build():
        rnn = cls(**kw)
        if not with_state:
            return rnn
        if cls is nn.LSTM:
            return Fn(lambda m, x, h, c: m.rnn(x, (h, c)), rnn=rnn)
        return Fn(lambda m, x, h: m.rnn(x, h), rnn=rnn)

    def make(batch, g):
        x = torch.randn(*((batch,) + shape[1:] if bf else (shape[0], batch, shape[2])), generator=g)
        states = [torch.randn(layers, batch, hidden, generator=g) for _ in range(with_state * (2 if cls is nn.LSTM else 1))]
        return [x, *states]

    dynamic = bf and not with_state
    return Case(id_, build, (shape,), batches=(2, 3) if dynamic else (2,), dynamic=dynamic, make=make)


RNN = [
    rnn_case("lstm", nn.LSTM, (2, 6, 4), input_size=4, hidden_size=5, batch_first=True),
    rnn_case("lstm_seq_first", nn.LSTM, (6, 2, 4), input_size=4, hidden_size=5),
    rnn_case("lstm_stacked_bidir", nn.LSTM, (2, 6, 4), input_size=4, hidden_size=5, num_layers=2,
             bidirectional=True, batch_first=True),
    rnn_case("lstm_nobias", nn.LSTM, (2, 6, 4), input_size=4, hidden_size=5, bias=False, batch_first=True),
    rnn_case("lstm_initial_states", nn.LSTM, (6, 2, 4), True, input_size=4, hidden_size=5, num_layers=2,
             bidirectional=True),
    rnn_case("lstm_initial_states_batch_first", nn.LSTM, (2, 6, 4), True, input_size=4, hidden_size=5,
             batch_first=True),
    rnn_case("gru", nn.GRU, (2, 6, 4), input_size=4, hidden_size=5, batch_first=True),
    rnn_case("gru_stacked_bidir", nn.GRU, (6, 2, 4), input_size=4, hidden_size=5, num_layers=2, bidirectional=True),
    rnn_case("gru_initial_state", nn.GRU, (6, 2, 4), True, input_size=4, hidden_size=5, num_layers=2),
    rnn_case("rnn_tanh", nn.RNN, (2, 6, 4), input_size=4, hidden_size=5, batch_first=True),
    rnn_case("rnn_relu_bidir", nn.RNN, (2, 6, 4), input_size=4, hidden_size=5, nonlinearity="relu",
             bidirectional=True, batch_first=True),
]


ALL = CONV + POOL + NORM + DENSE + ACT + SHAPE + RNN


# torch.export (the fallback, and the tracer for .pt2 files): one case per family.
EXPORT = [c for c in ALL if c.id in {
    "conv2d_stride_pad", "conv_traced_at_batch1", "convtranspose2d_outpad", "maxpool2d_ceil", "avgpool2d_pad_exclude",
    "adaptive_avg_divisor", "batchnorm1d_3d_input", "layernorm", "linear_3d", "embedding", "parameter_and_buffer",
    "GELU_approximatetanh", "prelu_per_channel", "view_batch", "chunk", "slice_step", "upsample_bilinear_align",
    "pad_reflect", "stack_unbind", "lstm_stacked_bidir", "lstm_initial_states", "gru", "rnn_relu_bidir"}]
