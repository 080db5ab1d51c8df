"""`verify --per-layer` on a .pt2 target: the torch exporter's generated forward() names
each line after its IR value, and torch.export keeps those lines in its stack traces."""
import pytest
from click.testing import CliRunner

from convert.cli.main import main

torch = pytest.importorskip("torch")

NET = """import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        y = torch.tanh(self.conv1(x))
        y = torch.tanh(self.conv2(y))
        return self.fc(y.mean(dim=(2, 3)))

def build():
    torch.manual_seed(0)
    m = Net()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    return m.eval()

EXAMPLE_INPUTS = (torch.randn(2, 2, 5, 5),)
"""


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    d = tmp_path_factory.mktemp("pl")
    (d / "net.py").write_text(NET)
    import importlib.util

    spec = importlib.util.spec_from_file_location("pl_net", d / "net.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sd = mod.build().state_dict()
    sd["conv2.weight"] = sd["conv2.weight"] * 1.01  # a 1% change to the middle layer
    torch.save(sd, d / "changed.pt")
    r = invoke("convert", f"{d}/net.py:build", "-o", d / "same.pt2")
    assert r.exit_code == 0, r.output
    r = invoke("convert", f"{d}/net.py:build", "--weights", d / "changed.pt", "-o", d / "changed.pt2")
    assert r.exit_code == 0, r.output
    return d


def test_per_layer_compares_pt2_layers(net, tmp_path):
    r = invoke("verify", f"{net}/net.py:build", net / "same.pt2", "--per-layer", "--report", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    import json

    doc = json.loads((tmp_path / "r.json").read_text())
    layers = {layer["layer"] for layer in doc["layers"]}
    assert {"conv1", "conv2", "fc"} <= layers, layers


def test_per_layer_names_the_changed_pt2_layer(net, tmp_path):
    r = invoke("verify", f"{net}/net.py:build", net / "changed.pt2", "--per-layer", "--artifacts", tmp_path)
    assert r.exit_code == 1, r.output
    assert "first diverging layer: conv2 (Conv2d)" in r.output, r.output
