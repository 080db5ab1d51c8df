"""`nnconvert check` on a PyTorch source lists the importer's gaps and the exporter's
together (as for Keras and Caffe sources): unsupported ATen ops are bridged for the check
so the exporter sees the rest of the model."""
import textwrap

import pytest
from click.testing import CliRunner

from convert.cli.main import main

torch = pytest.importorskip("torch")

NET = textwrap.dedent("""
    import torch
    from torch import nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.norm = nn.LayerNorm(4)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            y = torch.erfinv(torch.tanh(self.conv(x)) * 0.5)   # no importer handler
            y = nn.functional.gelu(y).mean(dim=(2, 3))          # no Caffe layer for Gelu
            return self.fc(self.norm(y))                        # nor for LayerNormalization


    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return torch.relu(self.conv(x))


    def net():
        return Net().eval()


    def plain():
        return Plain().eval()


    EXAMPLE_INPUTS = (torch.randn(1, 3, 6, 6),)
""")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def net_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("check_torch") / "net.py"
    path.write_text(NET)
    return path


def test_check_torch_lists_importer_and_exporter_gaps_together(net_file):
    r = invoke("check", f"{net_file}:net", "--to", "caffe")
    assert r.exit_code == 3, r.output
    assert "import and caffe export (target caffe)" in r.output, r.output
    imported, exported = r.output.split("caffe export:")
    assert "aten.erfinv.default x1" in imported, r.output
    assert "Gelu x1" in exported and "LayerNormalization x1" in exported, r.output
    assert "erfinv" not in exported


def test_check_pt2_lists_both_without_torch_reading_it(net_file):
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_torch_net", net_file)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    pt2 = net_file.with_suffix(".pt2")
    torch.export.save(torch.export.export(mod.net(), mod.EXAMPLE_INPUTS), pt2)
    r = invoke("check", pt2, "--to", "caffe")
    assert r.exit_code == 3, r.output
    imported, exported = r.output.split("caffe export:")
    assert "torch.export import" in imported and "aten.erfinv.default x1" in imported, r.output
    assert "Gelu x1" in exported and "LayerNormalization x1" in exported, r.output


def test_check_torch_with_importer_gaps_only(net_file):
    r = invoke("check", f"{net_file}:net", "--to", "onnx")
    assert r.exit_code == 3, r.output
    assert "aten.erfinv.default x1" in r.output and "onnx export" not in r.output, r.output


def test_check_torch_clean_model_passes(net_file):
    r = invoke("check", f"{net_file}:plain", "--to", "caffe")
    assert r.exit_code == 0 and r.output.startswith("ok: all"), r.output


def test_convert_still_refuses_what_check_bridges(net_file, tmp_path):
    r = invoke("convert", f"{net_file}:net", "-o", tmp_path / "net.onnx")
    assert r.exit_code == 3 and "aten.erfinv.default" in r.output, r.output
    assert not (tmp_path / "net.onnx").exists()
