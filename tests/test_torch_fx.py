"""The torch.fx front end for live modules: patterns only it has to lower, the fallback to
torch.export, and that it never imports dynamo. Numbers are compared with torch itself."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = nn.functional

from conftest import REPO  # noqa: E402
from convert.errors import UnsupportedError, UsageError  # noqa: E402
from convert.importers.torch import from_torch, load  # noqa: E402
from convert.importers.torch.fx.front import from_module  # noqa: E402
from helpers import assert_close, run_onnx  # noqa: E402
from torch_cases import Case, Fn, check_case, make_inputs  # noqa: E402


class OptionalState(nn.Module):
    """forward(x, h=None): the unused optional argument is traced as None."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 5, batch_first=True)

    def forward(self, x, h=None):
        if h is None:
            h = torch.zeros(1, x.size(0), 5)
        return self.gru(x, h)[1]


class BatchStates(nn.Module):
    """Zero initial states built from x.size(0), and both final states returned."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 5, num_layers=2, batch_first=True)

    def forward(self, x):
        h0 = torch.zeros(2, x.size(0), 5)
        out, (h, c) = self.lstm(x, (h0, torch.zeros_like(h0)))
        return out[:, -1] + h[-1], c


CASES = [
    Case("conv_padding_reflect", lambda: nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), ((2, 3, 6, 6),)),
    Case("conv_padding_circular", lambda: nn.Conv1d(3, 4, 3, padding=2, padding_mode="circular"), ((2, 3, 7),)),
    Case("conv_padding_replicate", lambda: nn.Conv2d(3, 4, 3, padding=(1, 2), padding_mode="replicate"),
         ((2, 3, 5, 6),)),
    Case("functional_conv_weights", lambda: Fn(lambda m, x: F.conv2d(x, m.w, m.b, padding=1, groups=2),
                                                w=nn.Parameter(torch.randn(4, 2, 3, 3)), b=nn.Parameter(torch.randn(4))),
         ((2, 4, 5, 5),)),
    Case("functional_linear", lambda: Fn(lambda m, x: F.linear(x, m.w), w=nn.Parameter(torch.randn(3, 4))),
         ((2, 4),)),
    Case("functional_pools", lambda: Fn(lambda m, x: F.max_pool2d(x, 2) + F.avg_pool2d(x, 3, 2, 1)[..., :3, :3]
                                        + F.adaptive_avg_pool2d(x, 1)), ((2, 3, 6, 6),)),
    Case("functional_interpolate_scale", lambda: Fn(lambda m, x: F.interpolate(x, scale_factor=2, mode="bilinear")),
         ((2, 3, 4, 5),)),
    Case("functional_activations", lambda: Fn(lambda m, x: F.relu6(F.leaky_relu(x, 0.1)) + F.gelu(x, approximate="tanh")
                                              + F.softmax(x, dim=-1) + F.log_softmax(x, 1) + torch.sigmoid(x).tanh()
                                              + F.elu(x, 0.5) + F.hardtanh(x, -0.2, 0.3) + F.softplus(x, 2.0)
                                              + F.silu(x) + F.hardswish(x) + F.softsign(x)), ((2, 3, 5),)),
    Case("shape_attribute_view", lambda: Fn(lambda m, x: x.view(x.shape[0], x.shape[1] * x.shape[2], -1)),
         ((2, 3, 4, 5),)),
    Case("size_tuple_reshape", lambda: Fn(lambda m, x: x.reshape(x.size()[:2] + (-1,)).permute(2, 0, 1)),
         ((2, 3, 4, 5),)),
    Case("ellipsis_none_index", lambda: Fn(lambda m, x: x[..., 1:3][:, None] * x[:, :, -1:, None, :2].sum(3)),
         ((2, 3, 4, 5),)),
    Case("method_chain", lambda: Fn(lambda m, x: x.mul(2).add(1, alpha=0.5).sub_(0.1).div(3).pow(2).clamp(0.0, 1.5)
                                    .transpose(-1, -2).unsqueeze(0).squeeze(0).flatten(1).float()), ((2, 3, 4),)),
    Case("scalar_left_operands", lambda: Fn(lambda m, x: 1 - x + 2 * x - 3 / (x.abs() + 1) + (-x) // 0.7),
         ((2, 3),)),
    Case("inplace_add_after_conv", lambda: Fn(lambda m, x: m.relu(m.c(x).__iadd__(x)), c=nn.Conv2d(3, 3, 3, padding=1),
                                              relu=nn.ReLU(inplace=True)), ((2, 3, 5, 5),)),
    Case("folded_constant_chain", lambda: Fn(lambda m, x: x * (m.s * 2 + 1).exp() + torch.arange(4.0),
                                             s=nn.Parameter(torch.randn(4) * 0.1)), ((2, 3, 4),)),
    Case("nn_sequential_flatten_unflatten", lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 12), nn.Unflatten(1, (3, 4)),
                                                                  nn.LayerNorm(4), nn.Identity()), ((2, 3, 4),)),
    Case("optional_forward_argument", OptionalState, ((2, 6, 4),)),
    Case("rnn_states_from_batch_size", BatchStates, ((2, 6, 4),)),
    Case("pads_and_shuffle_modules", lambda: nn.Sequential(nn.ZeroPad2d((1, 0, 2, 1)), nn.ReflectionPad2d(1),
                                                           nn.ReplicationPad2d((0, 1, 1, 0)), nn.PixelShuffle(2)),
         ((2, 8, 3, 3),)),
    Case("adaptive_max_and_chunks", lambda: Fn(lambda m, x: m.p(x).chunk(2, 1)[1], p=nn.AdaptiveMaxPool2d((2, 3))),
         ((2, 4, 4, 6),)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fx_pattern_matches_torch(case):
    check_case(case, "fx")


# -- fallback ---------------------------------------------------------------------------
class ShapeBranch(nn.Module):
    """Control flow on a shape: torch.fx cannot trace it, torch.export specialises it."""

    def forward(self, x):
        if x.shape[1] > 2:
            return x.relu() * 2
        return x - 1


def test_auto_falls_back_to_export():
    model = ShapeBranch()
    x = torch.randn(2, 3, 4)
    graph, _origin, gm, ep = from_module(model, (x,), dynamic_batch=True, input_names=None, tracer="auto")
    assert gm is None and ep is not None
    for batch in (2, 3):
        xb = make_inputs(Case("b", ShapeBranch, ((2, 3, 4),)), batch)[0]
        got = run_onnx(graph, {graph.inputs[0].name: xb.numpy()})
        assert_close(got[graph.outputs[0].name], model(xb).numpy(), what=f"fallback batch={batch}")


def test_fx_tracer_does_not_fall_back():
    with pytest.raises(UnsupportedError, match="torch.fx"):
        from_torch(ShapeBranch(), (torch.randn(2, 3, 4),), tracer="fx")


def test_unknown_tracer_is_a_usage_error():
    with pytest.raises(UsageError, match="tracer"):
        from_torch(nn.ReLU(), (torch.randn(2, 3),), tracer="jit")


def test_fx_and_export_name_layers_alike():
    from torch_cases import resnet

    torch.manual_seed(0)
    model, x = resnet().eval(), torch.randn(2, 3, 16, 16)
    graphs = [from_torch(model, (x,), tracer=t) for t in ("fx", "export")]

    def layers(g):
        return [(n.op, n.source.layer_type, n.source.layer_name) for n in g.nodes
                if not n.source.layer_type.startswith("aten.")]

    assert layers(graphs[0]) == layers(graphs[1])
    assert [(v.name, v.shape) for v in graphs[0].inputs] == [(v.name, v.shape) for v in graphs[1].inputs]
    assert sorted(graphs[0].weights) == sorted(graphs[1].weights)


def test_factory_load_uses_fx_and_runs_layers():
    lm = load(f"{REPO / 'fixtures' / 'tiny_resnet.py'}:build", weights=str(REPO / "fixtures" / "tiny_resnet_state.pt"))
    x = {"image": np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)}
    conv = lm.graph.node("block.conv1").outputs[0]
    layers = lm.run_layers(x, [conv])
    assert layers[conv].shape == (2, 16, 16, 16)
    assert_close(run_onnx(lm.graph, x)["output"], lm.run(x)["output"], what="tiny_resnet factory")


def test_fx_front_end_does_not_import_dynamo():
    code = (
        "import sys, torch\n"
        "from torch import nn\n"
        "from convert.importers.torch import from_torch\n"
        "m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))\n"
        "r = nn.LSTM(3, 4, batch_first=True)\n"
        "from_torch(m.eval(), (torch.randn(2, 3, 6, 6),), tracer='fx')\n"
        "from_torch(r, (torch.randn(2, 5, 3),), tracer='auto')\n"
        "bad = sorted(k for k in sys.modules if k.startswith(('torch._dynamo', 'torch.export._trace')))\n"
        "print(bad)\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


class Counter(nn.Module):
    """forward() updates a buffer: the shape passes must not run it."""

    def __init__(self):
        super().__init__()
        self.register_buffer("total", torch.zeros(1))

    def forward(self, x):
        self.total.add_(x.sum())
        return x * 2


def test_fx_refuses_in_place_state_updates_without_running_them():
    m = Counter()
    with pytest.raises(UnsupportedError, match="in place"):
        from_torch(m, (torch.randn(2, 3),), tracer="fx")
    assert float(m.total) == 0.0
