"""In-place and mutating ATen ops in `.pt2` files (torch.export's default IR keeps them):
converted by rebinding, checked against torch; mutations that cannot be expressed are
refused with the node named."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = nn.functional

from convert.errors import UnsupportedError  # noqa: E402
from convert.importers.torch import load  # noqa: E402
from convert.importers.torch.trace import _by_parameter, convert_program  # noqa: E402
from helpers import assert_close, run_onnx  # noqa: E402
from torch_cases import Fn, randomize_bn  # noqa: E402


class Counter(nn.Module):
    """Buffers updated on every call that the outputs never read before overwriting."""

    def __init__(self):
        super().__init__()
        self.register_buffer("last", torch.zeros(4))
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls.add_(1)
        self.last.copy_(x.mean(0))
        return x * 2 + self.last


class Accumulate(nn.Module):
    """The output reads the state the previous call left: not expressible without state."""

    def __init__(self):
        super().__init__()
        self.register_buffer("total", torch.zeros(4))

    def forward(self, x):
        self.total.add_(x.mean(0))
        return x * self.total


def block():
    """A residual block as torchvision writes it: ReLU(inplace=True) and out += identity."""
    def fwd(m, x):
        out = m.bn(m.conv(x))
        out += x
        return m.relu(out)
    return Fn(fwd, conv=nn.Conv2d(4, 4, 3, padding=1), bn=nn.BatchNorm2d(4), relu=nn.ReLU(inplace=True))


def _write_input(m, x):
    x.mul_(3)
    x.sub_(1)
    return F.relu(x) + x


def _fill(m, x):
    y = torch.zeros(4).fill_(0.5)
    z = torch.ones(4)
    z.zero_()
    return x * y + z


def _chain(m, x):
    y = m.conv(x)
    y.relu_()
    z = y.clone()
    y.add_(1)
    y.mul_(z)
    return F.hardswish(y, inplace=True)


INPLACE = [
    ("residual_block", block, (2, 4, 6, 7)),
    ("relu6_hardswish_silu", lambda: nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU6(inplace=True), nn.Conv2d(4, 4, 1),
                                                   nn.Hardswish(inplace=True), nn.SiLU(inplace=True),
                                                   nn.Hardsigmoid(inplace=True)), (2, 3, 5, 6)),
    ("leaky_elu_dropout", lambda: nn.Sequential(nn.Linear(5, 6), nn.LeakyReLU(0.1, inplace=True), nn.ELU(inplace=True),
                                                nn.Dropout(0.5, inplace=True), nn.Linear(6, 3)), (2, 5)),
    ("chain_through_clone", lambda: Fn(_chain, conv=nn.Conv2d(3, 4, 3)), (2, 3, 6, 5)),
    ("writes_its_input", lambda: Fn(_write_input), (2, 3)),
    ("fill_and_zero", lambda: Fn(_fill), (2, 4)),
    ("buffer_updated_not_read", Counter, (2, 4)),
]


def _export(model, shape, dynamic=True):
    torch.manual_seed(0)
    x = torch.randn(*shape)
    # a bounded batch: torch 2.6 refuses an open one (a guard that it is not 2**63-1)
    dyn = _by_parameter(model, (x,), [{0: torch.export.Dim("batch", max=1024)}]) if dynamic else None
    with torch.no_grad():
        return torch.export.export(model, (x,), dynamic_shapes=dyn, strict=False)  # newer torch's default; 2.6 too


def _check(graph, model, shape, batches=(2, 3)):
    for b in batches:
        x = torch.randn(b, *shape[1:], generator=torch.Generator().manual_seed(b))
        got = run_onnx(graph, {graph.inputs[0].name: x.numpy()})[graph.outputs[0].name]
        with torch.no_grad():
            ref = model(x.clone())
        assert_close(got, ref.numpy(), 1e-4, 1e-5, what=f"batch {b}")


@pytest.mark.parametrize("case", INPLACE, ids=[c[0] for c in INPLACE])
def test_inplace_pt2_matches_torch(case, tmp_path):
    _, build, shape = case
    torch.manual_seed(0)
    model = build().eval()
    randomize_bn(model)
    ep = _export(model, shape)
    keys = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    assert any(k.split(".")[1].endswith("_") for k in keys), keys  # the export really kept in-place ops
    torch.export.save(ep, tmp_path / "m.pt2")
    loaded = load(str(tmp_path / "m.pt2"))
    assert loaded.graph.inputs[0].shape[0] == "batch"
    _check(loaded.graph, build_fresh(build), shape)


def build_fresh(build):
    """The same seeded model again: the state of the exported one moved during export."""
    torch.manual_seed(0)
    model = build().eval()
    randomize_bn(model)
    return model


def test_functionalized_program_drops_only_state_outputs():
    """run_decompositions returns buffer and input mutations as extra outputs: the graph
    keeps only the user output."""
    model = Counter().eval()
    ep = _export(model, (2, 4)).run_decompositions({})
    graph, _ = convert_program(ep)
    assert [v.name for v in graph.outputs] == ["output"]
    _check(graph, Counter().eval(), (2, 4))


def _refused(model, shape, functional=False):
    ep = _export(model, shape)
    if functional:
        ep = ep.run_decompositions({})
    with pytest.raises(UnsupportedError) as e:
        convert_program(ep)
    return str(e.value)


@pytest.mark.parametrize("functional", [False, True], ids=["inplace", "functionalized"])
def test_state_read_across_calls_is_refused(functional):
    msg = _refused(Accumulate(), (2, 4), functional)
    assert "buffer mutation" in msg and "'total'" in msg and "no state" in msg


def test_write_through_view_read_later_is_refused():
    def fwd(m, x):
        y = x + 1
        y[:, :2].relu_()  # writes into y through a slice
        return y * 2
    msg = _refused(Fn(fwd), (2, 4))
    assert "relu_" in msg and "shares memory with add" in msg and "mul reads add" in msg


def test_write_through_view_not_read_later_converts():
    def fwd(m, x):
        y = (x + 1).view(-1, 2, 2)
        y.relu_()
        return y.sum(1)
    model = Fn(fwd)
    graph, _ = convert_program(_export(model, (2, 4)))
    _check(graph, model, (2, 4))


def test_verify_runner_does_not_modify_inputs(tmp_path):
    model = Fn(_write_input)
    torch.export.save(_export(model, (2, 3)), tmp_path / "w.pt2")
    loaded = load(str(tmp_path / "w.pt2"))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    loaded.run({loaded.graph.inputs[0].name: x})
    assert np.array_equal(x, np.arange(6, dtype=np.float32).reshape(2, 3))


def test_per_layer_values_are_recorded_before_a_later_inplace_op(tmp_path):
    """verify --per-layer compares the BN output, which ReLU(inplace=True) overwrites next."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(inplace=True)).eval()
    randomize_bn(model)
    torch.export.save(_export(model, (2, 3, 5, 5)), tmp_path / "m.pt2")
    loaded = load(str(tmp_path / "m.pt2"))
    bn = next(n.outputs[0] for n in loaded.graph.nodes if n.op == "BatchNormalization")
    x = torch.randn(2, 3, 5, 5)
    got = loaded.run_layers({loaded.graph.inputs[0].name: x.numpy()}, [bn])[bn]
    with torch.no_grad():
        ref = model[1](model[0](x)).numpy()
    assert (ref < 0).any()
    assert_close(got, ref, 1e-5, 1e-6)
