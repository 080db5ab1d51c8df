"""Each optimisation pass alone, on a model imported from PyTorch: the pass must change
the graph (its report says what) and onnxruntime must still match torch's own output."""
import numpy as np
import pytest

from convert.api import optimize_graph as optimize
from convert.passes import PASSES
from helpers import assert_close, run_onnx


def _model():
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
            self.drop, self.ident = nn.Dropout(0.5), nn.Identity()
            self.fc, self.bn1 = nn.Linear(4 * 9 * 7, 5), nn.BatchNorm1d(5)
            self.register_buffer("scale", torch.linspace(0.5, 1.5, 4))
            self.register_buffer("gain", torch.linspace(0.5, 1.5, 5))  # per-channel Mul after fc: fold-affine

        def forward(self, x):
            x = nn.functional.pad(x, (1, 0, 2, 1))                # zero Pad before a Conv: fold-pad
            y = self.ident(self.drop(self.bn(self.conv(x))))
            y = y * self.scale.reshape(1, -1, 1, 1)              # constant subgraph: fold-constants
            y = torch.sigmoid(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # transposes that cancel
            return self.bn1(self.fc(y.flatten(1)) * self.gain)

    torch.manual_seed(0)
    m = Net().eval()
    with torch.no_grad():  # non-trivial BN statistics
        for bn in (m.bn, m.bn1):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-1, 1)
    return m


# remove-dead needs a node nothing reads, which a traced torch model never has: the
# hand-built graph in test_passes.py covers it.
@pytest.mark.parametrize("name", [p for p in PASSES if p != "remove-dead"])
def test_pass_alone_matches_torch(name):
    import torch

    from convert.importers.torch import from_torch

    model = _model()
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    # torch.export keeps the buffer reshape as a graph op (the fx front end folds it on import).
    graph = from_torch(model, (torch.from_numpy(x),), tracer="export")
    report = []
    opt = optimize(graph, disable=[p for p in PASSES if p != name], report=report)
    changes = dict(report)[name]
    assert changes, f"{name} found nothing to do: the model no longer exercises it"
    assert len(opt.nodes) <= len(graph.nodes)
    (got,) = run_onnx(opt, {opt.inputs[0].name: x}, optimize=False).values()
    assert_close(got, want, rtol=1e-4, atol=1e-5, what=f"{name}: {changes}")
