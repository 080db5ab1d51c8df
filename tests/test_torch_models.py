"""Whole models, file loading and error reporting of the PyTorch importer."""
from __future__ import annotations

import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = nn.functional

from conftest import REPO  # noqa: E402
from convert.errors import ModelLoadError, UnsupportedError, UsageError  # noqa: E402
from convert.importers.torch import from_torch, load  # noqa: E402
from helpers import assert_close, run_onnx, skip_unless_torch_reads_pt2_layout  # noqa: E402
from torch_cases import Case, Fn, check_case, resnet  # noqa: E402


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        block = lambda i, o: nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU())  # noqa: E731
        self.enc1, self.enc2, self.mid = block(3, 4), block(4, 8), block(8, 16)
        self.up2 = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.dec2 = block(16, 8)
        self.up1 = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.dec1 = block(8, 4)
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        m = self.mid(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


class DenseBlock(nn.Module):
    def __init__(self, c=4, growth=3, layers=3):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(c + i * growth), nn.ReLU(), nn.Conv2d(c + i * growth, growth, 3, padding=1))
            for i in range(layers))

    def forward(self, x):
        feats = [x]
        for layer in self.layers:
            feats.append(layer(torch.cat(feats, 1)))
        return torch.cat(feats, 1)


class SeqModel(nn.Module):
    def __init__(self, cell=nn.LSTM):
        super().__init__()
        self.emb = nn.Embedding(20, 6)
        self.rnn = cell(6, 8, num_layers=2, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(16, 3)

    def forward(self, ids):
        out = self.rnn(self.emb(ids))[0]
        return self.fc(out[:, -1])


class Seq2Seq(nn.Module):
    """Encoder states feed the decoder as initial states."""

    def __init__(self):
        super().__init__()
        self.enc = nn.LSTM(4, 6, num_layers=2)
        self.dec = nn.LSTM(4, 6, num_layers=2)

    def forward(self, src, tgt):
        _, (h, c) = self.enc(src)
        out, (h2, c2) = self.dec(tgt, (h, c))
        return out, h2, c2


MODELS = [
    Case("resnet", resnet, ((2, 3, 32, 32),)),
    Case("unet", UNet, ((2, 3, 16, 16),)),
    Case("densenet_block", DenseBlock, ((2, 4, 8, 8),)),
    Case("lstm_classifier", SeqModel, ((2, 7),), int_high={0: 20}),
    Case("gru_classifier", lambda: SeqModel(nn.GRU), ((2, 7),), int_high={0: 20}),
    Case("seq2seq_lstm_states", Seq2Seq, ((5, 2, 4), (3, 2, 4)), batches=(2,), dynamic=False),
]


@pytest.mark.slow
@pytest.mark.parametrize("tracer", ["fx", "export"])
@pytest.mark.parametrize("case", MODELS, ids=[c.id for c in MODELS])
def test_model_matches_torch(case, tracer):
    check_case(case, tracer)


def test_resnet_bn_is_folded():
    """The BN layers survive import as BatchNormalization (source visible) and fold on export."""
    from convert.api import optimize_graph as optimize

    torch.manual_seed(0)
    g = from_torch(resnet().eval(), (torch.randn(2, 3, 16, 16),))
    assert sum(n.op == "BatchNormalization" for n in g.nodes) == 6
    assert not any(n.op == "BatchNormalization" for n in optimize(g).nodes)
    conv = g.node("4.conv1")
    assert (conv.source.layer_type, conv.source.layer_name) == ("Conv2d", "4.conv1")


def test_input_names_and_static_batch():
    g = from_torch(nn.Linear(3, 2), (torch.randn(2, 3),), dynamic_batch=False, input_names=["features"])
    assert [(v.name, v.shape) for v in g.inputs] == [("features", (2, 3))]
    assert [(v.name, v.shape) for v in g.outputs] == [("output", (2, 2))]


# -- unsupported ops -------------------------------------------------------------
class Unsupported(nn.Module):
    def forward(self, x):
        y = torch.logcumsumexp(x, 1) + torch.logcumsumexp(x, 2)
        return torch.flip(y, [1]), torch.argsort(x, 1)


def test_unsupported_ops_are_listed_at_once():
    with pytest.raises(UnsupportedError) as info:
        from_torch(Unsupported(), (torch.randn(2, 3, 4),))
    text = str(info.value)
    assert "aten.logcumsumexp.default x2" in text and "aten.flip.default x1" in text
    assert "aten.argsort" in text or "aten.sort" in text
    assert len(info.value.items) == 4


def test_unsupported_attribute_values_are_listed():
    m = Fn(lambda m, x: (F.elu(x) * 0 + torch.div(x, 2, rounding_mode="trunc"), m.p(x)),
           p=nn.AdaptiveAvgPool2d(3))
    with pytest.raises(UnsupportedError) as info:
        from_torch(m, (torch.randn(2, 3, 4, 4),))
    text = str(info.value)
    assert "rounding_mode='trunc'" in text and "output_size=[3, 3]" in text


# -- loading files ----------------------------------------------------------------
FIXTURES = REPO / "fixtures"


def _check_loaded(lm, batch=3):
    x = {"image": np.random.default_rng(batch).standard_normal((batch, 3, 32, 32)).astype(np.float32)}
    ref = lm.run(x)
    got = run_onnx(lm.graph, x)
    assert list(ref) == ["output"]
    assert_close(got["output"], ref["output"], what="tiny_resnet")


def test_load_pt2_fixture():
    skip_unless_torch_reads_pt2_layout()
    lm = load(str(FIXTURES / "tiny_resnet.pt2"))
    assert lm.graph.inputs[0].shape == ("batch", 3, 32, 32)
    assert lm.framework_version == torch.__version__.split("+")[0]
    _check_loaded(lm, 1)
    _check_loaded(lm, 3)


def test_load_factory_with_weights():
    lm = load(f"{FIXTURES / 'tiny_resnet.py'}:build", weights=str(FIXTURES / "tiny_resnet_state.pt"))
    sd = torch.load(FIXTURES / "tiny_resnet_state.pt", weights_only=True)
    np.testing.assert_array_equal(lm.graph.weights["fc.weight"], sd["fc.weight"].numpy())
    _check_loaded(lm)


def test_load_factory_input_shapes():
    lm = load(f"{FIXTURES / 'tiny_resnet.py'}:build", input_shapes={"image": ("N", 3, 32, 32)})
    assert lm.graph.inputs[0].shape[1:] == (3, 32, 32) and isinstance(lm.graph.inputs[0].shape[0], str)
    _check_loaded(lm, 4)


def test_run_layers_gives_intermediate_values():
    skip_unless_torch_reads_pt2_layout()
    lm = load(str(FIXTURES / "tiny_resnet.pt2"))
    x = {"image": np.ones((2, 3, 32, 32), np.float32)}
    conv = lm.graph.node("block.conv1").outputs[0]
    layers = lm.run_layers(x, [conv])
    assert layers[conv].shape == (2, 16, 16, 16)


def test_pickled_module_needs_trust(tmp_path):
    p = tmp_path / "model.pt"
    torch.manual_seed(0)
    torch.save(nn.Sequential(nn.Linear(4, 3), nn.ReLU()), p)
    with pytest.raises(ModelLoadError, match="trust_pickle=True"):  # the API's own keyword
        load(str(p))
    lm = load(str(p), trust_pickle=True, input_shapes={"input": (-1, 4)})
    x = {"input": np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)}
    assert_close(run_onnx(lm.graph, x)["output"], lm.run(x)["output"])


@pytest.mark.parametrize("make, match", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes((FIXTURES / "tiny_resnet.pt2").read_bytes()[:4000]), "truncated or corrupted"),
    (lambda p: p.write_bytes(b"\x00" * 100), "truncated or corrupted"),
], ids=["missing", "truncated", "garbage"])
def test_bad_pt2_is_one_clear_error(tmp_path, make, match):
    p = tmp_path / "model.pt2"
    make(p)
    with pytest.raises(ModelLoadError, match=match) as info:
        load(str(p))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("path, kw, match", [
    ("tiny_resnet_state.pt", {}, "holds only weights"),
    ("tiny_resnet.py:missing", {}, "has no callable 'missing'"),
    ("make_fixtures.py", {}, "not a PyTorch model"),
    ("tiny_resnet.py:build", {"weights": "tiny_resnet.pt2"}, "not a state_dict"),
    ("tiny_resnet.py:build", {"input_shapes": {"x": (1, 3)}}, "are not forward"),
], ids=["state_dict_alone", "no_factory", "other_file", "weights_not_state_dict", "wrong_input_name"])
def test_wrong_inputs_are_one_clear_error(path, kw, match):
    kw = {k: (str(FIXTURES / v) if k == "weights" else v) for k, v in kw.items()}
    with pytest.raises((ModelLoadError, UsageError), match=match):
        load(str(FIXTURES / path), **kw)


def test_factory_without_examples_asks_for_input_shape(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import torch\ndef make():\n    return torch.nn.Linear(2, 2)\n")
    with pytest.raises(ModelLoadError, match="input_shapes="):  # the API's own keyword
        load(f"{f}:make")


def test_importing_the_package_does_not_import_torch():
    import subprocess

    code = "import sys, convert, convert.importers.torch; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
