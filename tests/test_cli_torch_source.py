"""--to torch-source is code to edit and fine-tune: BatchNorm and Dropout stay layers by
default (--for-inference folds them), no unused imports or variables (pyflakes)."""
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from convert.cli.main import main

torch = pytest.importorskip("torch")
pytest.importorskip("pyflakes")

NET = """import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        return self.fc(self.drop(y.mean(dim=(2, 3))))

def build():
    torch.manual_seed(0)
    m = Net()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    m.train()
    with torch.no_grad():  # calibrate the running statistics on a batch
        for _ in range(3):
            m(torch.randn(8, 3, 5, 5) * 2 + 1)
    return m.eval()

EXAMPLE_INPUTS = (torch.randn(2, 3, 5, 5),)
"""


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    d = tmp_path_factory.mktemp("src")
    (d / "net.py").write_text(NET)
    return d


def convert(net, out, *extra):
    r = CliRunner().invoke(main, ["convert", f"{net}/net.py:build", "--to", "torch-source", "-o", str(out),
                                  "--verify", *extra], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return out.read_text()


def pyflakes(path):
    return subprocess.run([sys.executable, "-m", "pyflakes", str(path)], capture_output=True, text=True)


def load_generated(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"gen_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.load_model()


def test_torch_source_keeps_batchnorm_and_dropout_and_is_lint_clean(net, tmp_path):
    src = convert(net, tmp_path / "model.py")
    assert "nn.BatchNorm2d(4" in src and "nn.Dropout(0.3)" in src
    lint = pyflakes(tmp_path / "model.py")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    model = load_generated(tmp_path / "model.py")
    import importlib.util

    spec = importlib.util.spec_from_file_location("user_net", net / "net.py")
    user = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(user)
    source = user.build()
    x = torch.randn(3, 3, 5, 5, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        np.testing.assert_allclose(model(x).numpy(), source(x).numpy(), rtol=1e-4, atol=1e-5)
    with torch.no_grad():  # the comparison has signal: another input and a 1% weight change show
        assert np.abs(model(x * -1.5).numpy() - source(x).numpy()).max() > 1e-2
        model.conv.weight.mul_(1.01)
        assert np.abs(model(x).numpy() - source(x).numpy()).max() > 4e-4  # tolerance here: ~4e-5
        model.conv.weight.div_(1.01)
    # The running statistics are the source's (not folded away): same buffers, same values.
    np.testing.assert_allclose(model.bn.running_var.numpy(), source.bn.running_var.numpy(), rtol=1e-6)
    model.train()  # fine-tuning: dropout active, batch statistics, gradients reach the BatchNorm
    model(x).sum().backward()
    assert model.bn.weight.grad is not None and float(model.bn.weight.grad.abs().sum()) > 0


def test_for_inference_folds_and_is_lint_clean(net, tmp_path):
    src = convert(net, tmp_path / "folded.py", "--for-inference")
    assert "BatchNorm" not in src and "Dropout" not in src
    lint = pyflakes(tmp_path / "folded.py")
    assert lint.returncode == 0, lint.stdout + lint.stderr
