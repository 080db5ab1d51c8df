"""A ``file.py:factory`` source with ``--input-shape ids:batch,seq``: the length stays
symbolic through ``ids.size(1)``, ``torch.arange``, ``view(b, t, heads, d)``, ``t * 2 // 2``
and ``+`` (position ids), as on the ``.pt2`` path; integer example inputs keep their dtype
(token ids from the file's EXAMPLE_INPUTS, resized). Verified by ``convert --verify`` (two
batch sizes, two lengths) and compared here with torch at two other lengths. A slice
bound computed from the length (``x[:, :t // 2 + 1]``) cannot be a static Slice attribute:
it is refused by node, never sliced to the end."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from convert.api import convert_file, load_model  # noqa: E402
from convert.errors import UnsupportedError  # noqa: E402

NET = '''import torch
from torch import nn
import torch.nn.functional as F

VOCAB, EMBED, HEADS, MAX_LEN = 29, 16, 4, 32


class Encoder(nn.Module):
    def __init__(self, half=False):
        super().__init__()
        self.half_out = half
        self.tok, self.pos = nn.Embedding(VOCAB, EMBED), nn.Embedding(MAX_LEN, EMBED)
        self.qkv, self.proj = nn.Linear(EMBED, 3 * EMBED), nn.Linear(EMBED, EMBED)
        self.ln = nn.LayerNorm(EMBED)

    def forward(self, ids):
        b, t = ids.size(0), ids.size(1)
        x = self.tok(ids) + self.pos(torch.arange(t) + 1)
        q, k, v = self.qkv(x).split(EMBED, -1)
        q, k, v = (z.view(b, t, HEADS, EMBED // HEADS).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=(ids != 0)[:, None, None, :])
        y = y.transpose(1, 2).reshape(b, t * 2 // 2, -1)
        x = self.ln(x + self.proj(y))
        return x[:, :t // 2 + 1] if self.half_out else x


def build():
    torch.manual_seed(0)
    m = Encoder()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if p.dim() == 1:  # LayerNorm's ones/zeros and zero biases would hide a swapped operand
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.3 * torch.randn(p.shape))
    return m.eval()


def build_half():
    m = build()
    m.half_out = True
    return m


EXAMPLE_INPUTS = (torch.randint(1, VOCAB, (2, 6)),)
'''
SHAPES = {"ids": ("batch", "seq")}


def _ids(batch: int, seq: int, seed: int) -> torch.Tensor:
    ids = torch.randint(1, 29, (batch, seq), generator=torch.Generator().manual_seed(seed))
    ids[-1, seq - 2:] = 0  # padding in the last row
    return ids


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    from helpers import write_module

    root = tmp_path_factory.mktemp("factoryseq")
    return root, write_module(root / "enc.py", NET, "factory_seq_enc")


def test_length_stays_symbolic_and_matches_torch(net, tmp_path):
    root, mod = net
    out = tmp_path / "enc.onnx"
    res = convert_file(f"{root / 'enc.py'}:build", str(out), reader_options={"input_shapes": SHAPES}, verify=True)
    assert res.report.ok
    shapes = [tuple(r.shapes["ids"]) for r in res.report.runs]  # verify ran two batch sizes and two lengths
    assert len({s[0] for s in shapes}) == 2 and len({s[1] for s in shapes}) == 2, shapes
    graph = load_model(f"{root / 'enc.py'}:build", input_shapes=SHAPES).graph
    assert graph.inputs[0].dtype == "int64" and all(isinstance(d, str) for d in graph.inputs[0].shape)
    assert any(n.op == "SizeRange" for n in graph.nodes)
    model = mod.build()
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    outs = {}
    for batch, seq in ((2, 5), (3, 9)):
        ids = _ids(batch, seq, seed=seq)
        with torch.no_grad():
            want = model(ids).numpy()
        (got,) = sess.run(None, {"ids": ids.numpy()})
        assert got.shape == want.shape == (batch, seq, 16)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
        outs[seq] = want
    # signal: another input and a 1% change to a middle weight move the output far past the tolerance
    ids = _ids(3, 9, seed=9)
    with torch.no_grad():
        tol = 1e-5 + 1e-4 * np.abs(outs[9]).max()
        assert np.abs(model(_ids(3, 9, seed=1)).numpy() - outs[9]).max() > 100 * tol
        model.qkv.weight.mul_(1.01)
        assert np.abs(model(ids).numpy() - outs[9]).max() > 10 * tol


def test_slice_bound_computed_from_the_length_is_refused_by_node(net, tmp_path):
    root, _ = net
    with pytest.raises(UnsupportedError) as e:
        convert_file(f"{root / 'enc.py'}:build_half", str(tmp_path / "half.onnx"),
                     reader_options={"input_shapes": SHAPES})
    assert "aten.slice.Tensor" in str(e.value) and "end=" in str(e.value) and "//2" in str(e.value)
    assert not (tmp_path / "half.onnx").exists()
