"""ATen ops from the transformer work's loose ends, compared with torch at two batch
sizes through .pt2 and through a ``file.py:factory`` source: instance_norm (input
statistics, and running statistics with ``track_running_stats``), isneginf/isposinf on
inputs holding both infinities, repeat_interleave by an int (with and without ``dim``),
and in-place comparisons (``x.gt_(0)`` keeps x's float dtype: 1.0/0.0, not bool)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
nn = torch.nn

from convert.api import convert_file  # noqa: E402

NET = '''import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = nn.InstanceNorm2d(3, affine=True)
        self.n2 = nn.InstanceNorm1d(4)
        self.n3 = nn.InstanceNorm1d(4, affine=True, track_running_stats=True)

    def forward(self, x, s):
        inf = torch.isneginf(x).float() + 2 * torch.isposinf(x).float()
        y = torch.where(torch.isinf(x), torch.zeros_like(x), x)
        a = self.n1(y) * (1 + inf)
        b = self.n2(s) + self.n3(s)
        g = s.clone()
        g.gt_(0.2)  # in place: stays float32
        le = s.clone()
        le.le_(s * 0.5)
        c = torch.repeat_interleave(s, 3, dim=1) * torch.repeat_interleave(g, 3, dim=1)
        return a, b + g - le, c, s.repeat_interleave(2) + 1, torch.repeat_interleave(s, 2, dim=-1)


def build():
    torch.manual_seed(0)
    m = Net()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.5 + 1)
        m.train()
        m(torch.randn(8, 3, 5, 6), torch.randn(8, 4, 7) * 2 + 1)  # running statistics from a batch
    return m.eval()


EXAMPLE_INPUTS = (torch.randn(2, 3, 5, 6), torch.randn(2, 4, 7))
'''


def _inputs(batch, seed):
    g = torch.Generator().manual_seed(seed)
    x, s = torch.randn(batch, 3, 5, 6, generator=g), torch.randn(batch, 4, 7, generator=g)
    x[0, 0, 0, :3] = float("inf")
    x[-1, 1, 2, 1:3] = -float("inf")
    x[-1, 2, 4, 5] = float("inf")
    return x, s


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    from helpers import write_module

    root = tmp_path_factory.mktemp("atenextra")
    model = write_module(root / "net.py", NET, "aten_extra_net").build()
    batch = torch.export.Dim("batch", min=1)
    ep = torch.export.export(model, _inputs(2, 0), dynamic_shapes=({0: batch}, {0: batch}))
    torch.export.save(ep, str(root / "net.pt2"))
    return model, {"pt2": str(root / "net.pt2"), "factory": f"{root / 'net.py'}:build"}


@pytest.mark.parametrize("source", ["pt2", "factory"])
def test_matches_torch(sources, tmp_path, source):
    model, paths = sources
    out = tmp_path / "net.onnx"
    assert convert_file(paths[source], str(out), verify=True).report.ok
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for batch, seed in ((1, 3), (3, 4)):
        x, s = _inputs(batch, seed)
        with torch.no_grad():
            want = [w.numpy() for w in model(x, s)]
        got = sess.run(None, {"x": x.numpy(), "s": s.numpy()})
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    # the values carry signal: infinities found at both signs, comparisons both ways
    a = want[0]
    assert np.isfinite(a).all() and len(np.unique(np.round(a / np.abs(a).max(), 3))) > 20
    with torch.no_grad():
        other = model(*_inputs(3, 9))
    assert all(np.abs(o.numpy() - w).max() > 0.1 for o, w in zip(other, want))


def test_inplace_comparison_keeps_dtype(sources, tmp_path):
    """``gt_``/``le_`` results are float32 in the IR, as in torch (a bool would not multiply)."""
    from convert.api import load_model

    graph = load_model(sources[1]["pt2"]).graph
    casts = [n for n in graph.nodes if n.op == "Cast" and n.source and n.source.layer_type.startswith(("aten.gt_",
                                                                                                      "aten.le_"))]
    assert len(casts) == 2 and all(n.attrs["to"] == "float32" for n in casts), [
        (n.op, n.source) for n in graph.nodes]
