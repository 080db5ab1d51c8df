"""A BERT-style encoder built on ``nn.MultiheadAttention`` (padding mask) with positions
from ``torch.arange(ids.size(1))``: its head split reshapes with two symbolic sizes, so the
IR reads the batch and the length at run time (Reshape's like input, SizeRange). Converted
from a ``.pt2`` file and from the live module (torch.export with axes 0 and 1 dynamic),
compared with torch at two batch sizes and two lengths in ONNX (opset 17 and 23) and torch;
targets without run-time shapes refuse it by node."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional

from convert.errors import UnsupportedError  # noqa: E402
from convert.passes import optimize  # noqa: E402
from helpers import target_runner  # noqa: E402

VOCAB, EMBED, HEADS, MAX_LEN = 29, 16, 4, 12
RTOL, ATOL = 1e-4, 1e-5


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.tok, self.pos = nn.Embedding(VOCAB, EMBED), nn.Embedding(MAX_LEN, EMBED)
        self.attn = nn.MultiheadAttention(EMBED, HEADS, batch_first=True)
        self.ln1, self.ln2 = nn.LayerNorm(EMBED), nn.LayerNorm(EMBED)
        self.up, self.down = nn.Linear(EMBED, 2 * EMBED), nn.Linear(2 * EMBED, EMBED)

    def forward(self, ids):
        x = self.tok(ids) + self.pos(torch.arange(ids.size(1)))
        y = self.attn(x, x, x, key_padding_mask=ids == 0, need_weights=False)[0]
        x = self.ln1(x + y)
        x = self.ln2(x + self.down(F.gelu(self.up(x))))
        return F.linear(x, self.tok.weight)  # tied output head


def _build() -> nn.Module:
    model = Encoder().eval()
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():  # LayerNorm's ones/zeros and zero biases would hide a swapped operand
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.3 * torch.randn(p.shape, generator=g))
    return model


def _ids(batch: int, seq: int, seed: int = 0) -> torch.Tensor:
    """Trailing padding in every row but the first; never a row of padding only."""
    ids = torch.randint(1, VOCAB, (batch, seq), generator=torch.Generator().manual_seed(seed + 100 * batch + seq))
    for r in range(1, batch):
        ids[r, seq - r:] = 0
    return ids


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from convert.api import load_model
    from convert.importers.torch import from_torch

    model = _build()
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("seq", min=2, max=MAX_LEN)}
    with torch.no_grad():
        ep = torch.export.export(model, (_ids(2, 6),), dynamic_shapes=(dims,))
    path = tmp_path_factory.mktemp("dynseq") / "encoder.pt2"
    torch.export.save(ep, str(path))
    graphs = {"pt2": load_model(str(path)).graph, "live": from_torch(model, (_ids(2, 6),), dynamic_batch=[{0, 1}])}
    return model, {k: optimize(g) for k, g in graphs.items()}


@pytest.mark.parametrize("source", ["pt2", "live"])
@pytest.mark.parametrize("target", ["onnx17", "onnx23", "torch"])
def test_dynamic_length_matches_torch(converted, source, target):
    model, graphs = converted
    graph = graphs[source]
    assert len(graph.inputs[0].shape) == 2 and all(isinstance(d, str) for d in graph.inputs[0].shape)
    assert any(n.op == "SizeRange" for n in graph.nodes)
    assert any(n.op == "Reshape" and len(n.inputs) > 1 for n in graph.nodes)
    run = target_runner(graph, target)
    for seq in (5, 9):
        for batch in (2, 3):
            ids = _ids(batch, seq)
            with torch.no_grad():
                ref = model(ids).numpy()
            got = run(ids)
            assert got.shape == ref.shape
            np.testing.assert_allclose(got, ref, rtol=RTOL, atol=ATOL, err_msg=f"batch {batch}, length {seq}")


def test_written_pt2_keeps_the_length_dynamic(converted, tmp_path):
    """The torch target's .pt2 (the generated module exported again, sizes read from the
    input) reads back and still matches at another length and batch."""
    from convert.api import export, load_model

    model, graphs = converted
    path = tmp_path / "out.pt2"
    export(graphs["pt2"], path)
    back = load_model(str(path)).graph
    ids = _ids(3, 9)
    with torch.no_grad():
        ref = model(ids).numpy()
    np.testing.assert_allclose(target_runner(back, "onnx17")(ids), ref, rtol=RTOL, atol=ATOL)


def test_dynamic_length_carries_signal():
    model = _build()
    ids = _ids(2, 6)
    with torch.no_grad():
        ref = model(ids)
        tol = ATOL + RTOL * ref.abs().max().item()
        assert (model(_ids(2, 6, seed=7)) - ref).abs().max().item() > 100 * tol
        model.attn.in_proj_weight.mul_(1.01)  # a middle weight
        assert (model(ids) - ref).abs().max().item() > 10 * tol


def test_targets_without_runtime_shapes_refuse_by_node(converted):
    from convert.api import unsupported_by_target
    from convert.formats import FORMATS

    _, graphs = converted
    with pytest.raises(UnsupportedError) as e:
        unsupported_by_target(graphs["pt2"], FORMATS["caffe"])
    assert "SizeRange" in str(e.value) and "like" in str(e.value)
