"""IR -> PyTorch exporter: torch models imported to the IR, exported back to torch layers,
compared against the SOURCE torch model (the oracle), plus saved-file checks."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

from helpers import assert_close

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


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_torch_export_matches_source(case):
    from convert.exporters.torch import to_torch, unsupported

    _, x, ref, graph = build(case)
    assert unsupported(graph) == []
    out = to_torch(graph)(torch.from_numpy(x))
    assert_close(out.detach().numpy(), ref, case.rtol, case.atol, case.id)


def _attr_name(torch_name: str) -> str:
    """The documented naming rule: dots become underscores, a leading digit gets 'm_'."""
    s = torch_name.replace(".", "_")
    return f"m_{s}" if s[0].isdigit() else s


NAMED = ["conv2d", "batchnorm_relu", "residual", "lstm_bidirectional", "dense"]


@pytest.mark.parametrize("case", [c for c in CASES if c.id in NAMED], ids=lambda c: c.id)
def test_torch_round_trip_keeps_layer_names(case):
    from convert.exporters.torch import to_torch

    model, x, ref, graph = build(case)
    back = to_torch(graph)
    # every layer with weights keeps its name (parameter-free reshapes may become tensor methods)
    src_names = {_attr_name(n) for n, m in model.named_modules()
                 if n and not list(m.children()) and list(m.parameters())}
    out_names = {n for n, _ in back.named_modules() if n}
    assert src_names <= out_names, f"missing {sorted(src_names - out_names)}"
    # the weights sit in the same-named layers
    src_state = {_attr_name(k.rsplit(".", 1)[0]) + "." + k.rsplit(".", 1)[1]: v for k, v in model.state_dict().items()}
    for k, v in src_state.items():
        if k in back.state_dict():
            assert_close(back.state_dict()[k].numpy(), v.numpy(), 0, 0, k)


_FRESH = """
import json, sys
import numpy as np
import torch
{load}
x = torch.from_numpy(np.load(sys.argv[2]))
y = model(x)
np.save(sys.argv[3], y.detach().numpy())
assert not any(m == "convert" or m.startswith("convert.") for m in sys.modules), "nnconvert was imported"
"""


def _run_fresh(load: str, path, x, tmp_path) -> np.ndarray:
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, PYTHONPATH="")  # nnconvert is not importable in the child
    code = _FRESH.format(load=load)
    subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                   check=True, cwd=tmp_path, env=env, timeout=300)
    return np.load(tmp_path / "y.npy")


SAVED = ["residual", "batchnorm_relu", "lstm_bidirectional", "maxpool_pad", "convtranspose2d"]


@pytest.mark.parametrize("case", [c for c in CASES if c.id in SAVED], ids=lambda c: c.id)
def test_pt2_loads_in_fresh_process(case, tmp_path):
    from convert.exporters.torch import save

    model, x, _, graph = build(case)
    save(graph, tmp_path / "m.pt2", fmt="pt2")
    # batch 3, not the batch of 2 used for export: the batch dimension stays dynamic
    x3 = np.concatenate([x, x[:1]])
    with torch.no_grad():
        ref3 = model(torch.from_numpy(x3)).numpy()
    out3 = _run_fresh("model = torch.export.load(sys.argv[1]).module()", tmp_path / "m.pt2", x3, tmp_path)
    assert_close(out3, ref3, case.rtol, case.atol, case.id)


@pytest.mark.parametrize("case", [c for c in CASES if c.id in SAVED], ids=lambda c: c.id)
def test_torch_source_loads_in_fresh_process(case, tmp_path):
    from convert.exporters.torch import save

    _, x, ref, graph = build(case)
    files = save(graph, tmp_path / "model", fmt="torch-source")
    assert [f.name for f in files] == ["model.py", "model.safetensors"]
    src = files[0].read_text()
    assert "import convert" not in src and "from convert" not in src and "import pickle" not in src
    load = "sys.path.insert(0, '.'); import model as generated; model = generated.load_model()"
    out = _run_fresh(load, files[0], x, tmp_path)
    assert_close(out, ref, case.rtol, case.atol, case.id)


def test_unsupported_lists_every_problem_with_names():
    from convert.exporters.torch import save, unsupported
    from convert.errors import UnsupportedError
    from convert.ir import GraphBuilder, Source

    b = GraphBuilder("bad", "test")
    x = b.input("x", shape=(1, 3, 4))
    b.source = Source("test", "GRU", "gru_a")
    w = b.weight("w", np.zeros((1, 12, 4), np.float32))
    r = b.weight("r", np.zeros((1, 12, 4), np.float32))
    y = b.node("GRU", [x, w, r], {"hidden_size": 4, "linear_before_reset": 0}, outputs=2)[0]
    b.source = Source("test", "CaffeArgMax", "argmax_b")
    y = b.op("CaffeArgMax", y)
    b.output(y)
    g = b.finish()
    problems = unsupported(g)
    assert [(p.layer, p.layer_type) for p in problems] == [("gru_a", "GRU"), ("argmax_b", "CaffeArgMax")]
    assert problems[0].attribute == "linear_before_reset"
    with pytest.raises(UnsupportedError):
        save(g, "/nonexistent/never-written.pt2")
