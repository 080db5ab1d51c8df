"""Shared code of the PyTorch tests: a case table row, building inputs, converting a
case and comparing onnxruntime with torch's own output at several batch sizes, and a
small ResNet."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = nn.functional

from convert.importers.torch import from_torch  # noqa: E402
from helpers import assert_close, run_onnx  # noqa: E402


class Fn(nn.Module):
    """A module around a function, with optional submodules: Fn(lambda m, x: ..., conv=nn.Conv2d(..))."""

    def __init__(self, fn: Callable, **mods):
        super().__init__()
        self.fn = fn
        for k, v in mods.items():
            setattr(self, k, v)

    def forward(self, *xs):
        return self.fn(self, *xs)


@dataclass
class Case:
    id: str
    build: Callable[[], "nn.Module"]
    shapes: tuple  # per input, batch first
    rtol: float = 1e-4
    atol: float = 1e-5
    int_high: dict = field(default_factory=dict)  # input index -> exclusive upper bound of int64 ids
    batches: tuple = (2, 3)
    dynamic: bool = True
    make: Callable | None = None  # batch -> list of input tensors, when shapes are not enough
    fx: bool = True  # torch.fx can trace it (else tracer="auto" must fall back to torch.export)


def randomize_bn(model) -> None:
    """Non-trivial running statistics, so BN (and its folding) is really tested."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            if m.affine:
                m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.2)


def make_inputs(case: Case, batch: int, seed: int = 0) -> list:
    g = torch.Generator().manual_seed(seed + batch)
    if case.make is not None:
        return case.make(batch, g)
    out = []
    for i, s in enumerate(case.shapes):
        shape = (batch, *s[1:])
        if i in case.int_high:
            out.append(torch.randint(0, case.int_high[i], shape, generator=g))
        else:
            out.append(torch.randn(*shape, generator=g))
    return out


def check_case(case: Case, tracer: str = "fx") -> None:
    """tracer "fx" is strict (no fallback) and checks every leaf shape formula against torch."""
    from convert.importers.torch.fx import front as fx_front

    torch.manual_seed(0)
    model = case.build().eval()
    randomize_bn(model)
    tracer = tracer if case.fx or tracer != "fx" else "auto"
    fx_front.VERIFY_LEAF_SHAPES = tracer == "fx"
    try:
        graph = from_torch(model, tuple(make_inputs(case, case.batches[0], seed=100)), dynamic_batch=case.dynamic,
                           tracer=tracer)
    finally:
        fx_front.VERIFY_LEAF_SHAPES = False
    names = [v.name for v in graph.inputs]
    for batch in case.batches:
        xs = make_inputs(case, batch)
        with torch.no_grad():
            ref = model(*xs)
        ref = list(ref) if isinstance(ref, (tuple, list)) else [ref]
        flat = []
        for r in ref:
            flat.extend(r if isinstance(r, (tuple, list)) else [r])
        got = run_onnx(graph, {n: x.numpy() for n, x in zip(names, xs)})
        assert len(got) == len(flat)
        for v, r in zip(graph.outputs, flat):
            assert_close(got[v.name], r.numpy(), case.rtol, case.atol, what=f"{case.id} {v.name} batch={batch}")


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


def resnet():
    return nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
                         BasicBlock(8, 8), BasicBlock(8, 16, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(16, 5))
