"""The BERT-style encoder (token + position embedding, padding mask, erf-GELU MLP, post-LN,
tied output head) and GPT-style decoder (causal attention, tanh-GELU, pre-LN, tied head)
written in plain torch, with signal-carrying LayerNorm and bias values. Positions come from
``cumsum(ones_like(ids)) - 1`` so the sequence length stays dynamic."""
from __future__ import annotations

import torch

nn, F = torch.nn, torch.nn.functional

VOCAB, EMBED, HEADS, MAX_LEN = 37, 24, 3, 16


class Block(nn.Module):
    def __init__(self, causal: bool):
        super().__init__()
        self.causal = causal
        self.qkv, self.proj = nn.Linear(EMBED, 3 * EMBED), nn.Linear(EMBED, EMBED)
        self.ln1, self.ln2 = nn.LayerNorm(EMBED), nn.LayerNorm(EMBED)
        self.up, self.down = nn.Linear(EMBED, 2 * EMBED), nn.Linear(2 * EMBED, EMBED)

    def attend(self, x, mask):
        b, s, _ = x.shape
        q, k, v = (t.view(b, s, HEADS, EMBED // HEADS).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.causal)
        return self.proj(y.transpose(1, 2).reshape(b, s, EMBED))

    def forward(self, x, mask):
        if self.causal:  # GPT: pre-LN, tanh GELU
            x = x + self.attend(self.ln1(x), mask)
            return x + self.down(F.gelu(self.up(self.ln2(x)), approximate="tanh"))
        x = self.ln1(x + self.attend(x, mask))  # BERT: post-LN, erf GELU
        return self.ln2(x + self.down(F.gelu(self.up(x))))


class LM(nn.Module):
    def __init__(self, causal: bool):
        super().__init__()
        torch.manual_seed(0)
        self.causal = causal
        self.tok, self.pos = nn.Embedding(VOCAB, EMBED), nn.Embedding(MAX_LEN, EMBED)
        self.blocks = nn.ModuleList([Block(causal), Block(causal)])
        self.ln = nn.LayerNorm(EMBED)

    def forward(self, ids):
        positions = torch.cumsum(torch.ones_like(ids), 1) - 1
        x = self.tok(ids) + self.pos(positions)
        mask = None if self.causal else (ids != 0)[:, None, None, :]
        for block in self.blocks:
            x = block(x, mask)
        return F.linear(self.ln(x), self.tok.weight)  # tied output head


def token_ids(batch: int, seq: int, seed: int = 0) -> torch.Tensor:
    """Ids in 1..VOCAB-1 with trailing padding (0) in every row but the first."""
    ids = torch.randint(1, VOCAB, (batch, seq), generator=torch.Generator().manual_seed(seed + 100 * batch + seq))
    for r in range(1, batch):
        ids[r, seq - r:] = 0
    return ids


def _build(causal: bool) -> nn.Module:
    model = LM(causal).eval()
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):  # ones/zeros at init would hide a swapped scale/bias
                m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=g))
            elif isinstance(m, nn.Linear):
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
    return model


MODELS = {"bert": False, "gpt": True}


def build(name: str) -> nn.Module:
    """``"bert"`` or ``"gpt"``, in eval mode."""
    return _build(MODELS[name])


def export(model: nn.Module, ids: torch.Tensor):
    """``model`` exported by torch.export with a dynamic batch and sequence length."""
    dims = {0: torch.export.Dim("batch", max=1024), 1: torch.export.Dim("seq", min=2, max=MAX_LEN)}
    with torch.no_grad():
        return torch.export.export(model, (ids,), dynamic_shapes=(dims,), strict=False)
