"""``verify`` on a GPT-style model whose position table (12 rows) is shorter than the default
sequence lengths (16, 24): the lengths come from the graph (arange over the length axis reads
the table, so the axis is at most 12 rows) and from the exported Dim's max where lower (10),
the source runs at 8 and 12 tokens (6 and 10) instead of failing with IndexError or its
guard, and the comparison against torch can still fail."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional

VOCAB, EMBED, ROWS = 23, 8, 12


class TinyGPT(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.tok, self.pos = nn.Embedding(VOCAB, EMBED), nn.Embedding(ROWS, EMBED)
        self.qkv, self.head = nn.Linear(EMBED, 3 * EMBED), nn.Linear(EMBED, VOCAB)
        with torch.no_grad():  # zero biases would hide a swapped operand
            for lin in (self.qkv, self.head):
                lin.bias.normal_(0, 0.3)

    def forward(self, ids):
        x = self.tok(ids) + self.pos(torch.arange(ids.size(1)))
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return self.head(F.scaled_dot_product_attention(q, k, v, is_causal=True))


def _export(model, path, max_len):
    ids = torch.randint(0, VOCAB, (2, 6), generator=torch.Generator().manual_seed(0))
    seq = torch.export.Dim("seq", min=2, max=max_len) if max_len else torch.export.Dim("seq")
    ep = torch.export.export(model, (ids,), dynamic_shapes=({0: torch.export.Dim("batch"), 1: seq},))
    torch.export.save(ep, str(path))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from convert.api import convert_file

    d = tmp_path_factory.mktemp("gpt")
    model = TinyGPT().eval()
    for name, max_len in (("open", None), ("bounded", ROWS), ("short", 10)):
        _export(model, d / f"{name}.pt2", max_len)
        convert_file(str(d / f"{name}.pt2"), str(d / f"{name}.onnx"))
    with torch.no_grad():  # the same model with a 1% change to a middle weight
        model.qkv.weight.mul_(1.01)
    _export(model, d / "moved.pt2", None)
    convert_file(str(d / "moved.pt2"), str(d / "moved.onnx"))
    return d


@pytest.mark.parametrize("name,lengths", [("open", [8, 12]), ("bounded", [8, 12]), ("short", [6, 10])])
def test_verify_runs_lengths_the_position_table_holds(files, name, lengths):
    """2/3 of the table, then all of it; or of the exported Dim's max where that is lower."""
    from convert.api import verify

    rep = verify(str(files / f"{name}.pt2"), str(files / f"{name}.onnx"))
    assert rep.ok, rep
    assert sorted(r.shapes["ids"][1] for r in rep.runs) == lengths
    assert sorted(r.shapes["ids"][0] for r in rep.runs) == [1, 3]


def test_verify_still_fails_on_a_moved_weight_and_inputs_matter(files):
    from convert.api import verify

    rep = verify(str(files / "open.pt2"), str(files / "moved.onnx"))
    assert not rep.ok and all(not r.ok for r in rep.runs)
    model = TinyGPT().eval()
    g = torch.Generator().manual_seed(1)
    a, b = (torch.randint(0, VOCAB, (1, ROWS), generator=g) for _ in range(2))
    with torch.no_grad():
        moved = (model(a) - model(b)).abs().max().item()
    assert moved > 100 * 1e-4 * max(1.0, model(a).abs().max().item())


def test_a_range_shorter_than_the_table_bounds_nothing_else():
    """Only the axis the range runs over is bounded; a graph without one keeps (16, 24)."""
    from convert.verification.inputs import dim_bounds, input_plan
    from convert.importers.torch import from_torch

    ids = torch.randint(0, VOCAB, (2, 6), generator=torch.Generator().manual_seed(0))
    graph = from_torch(TinyGPT().eval(), (ids,), dynamic_batch=[{0, 1}])
    seq = graph.inputs[0].shape[1]
    assert dim_bounds(graph) == {seq: ROWS}
    graph.nodes = [n for n in graph.nodes if n.op != "SizeRange"]
    assert dim_bounds(graph) == {}
    assert [s.arrays["ids"].shape[1] for s in input_plan(graph)] == [16, 24]


@pytest.mark.parametrize("name,bound", [("open", ROWS), ("short", 10)])
def test_pt2_output_keeps_the_bound_and_matches(files, name, bound, tmp_path):
    """-> .pt2: the sequence Dim keeps the table's (or the declared) bound as its max, the
    example inputs stay within it, and the result matches the source at lengths inside."""
    from convert.api import convert_file, verify

    out = tmp_path / f"{name}.pt2"
    convert_file(str(files / f"{name}.pt2"), str(out))
    ep = torch.export.load(str(out))
    uppers = sorted(int(r.upper) for r in ep.range_constraints.values() if r.upper < 10**6)
    assert uppers == [bound], ep.range_constraints
    rep = verify(str(files / f"{name}.pt2"), str(out))
    assert rep.ok, rep
    ids = torch.zeros(1, bound + 1, dtype=torch.long)
    with pytest.raises(Exception, match=rf"(?i)guard|<= ?{bound}\b"):
        ep.module()(ids)  # torch's guard, not an IndexError from the table
