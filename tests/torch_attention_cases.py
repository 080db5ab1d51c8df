"""Attention models in torch shared by the attention tests of several targets: the case
table (F.scaled_dot_product_attention with masks, causal, grouped heads, 3-D;
nn.MultiheadAttention; nn.TransformerEncoderLayer/DecoderLayer), weights given signal, and
the conversion of a case by either tracer (the sequence axis dynamic where a case says so)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from convert.importers.torch import from_torch
from convert.importers.torch.trace import convert_program

nn, F = torch.nn, torch.nn.functional


class Sdpa(nn.Module):
    """Q, K, V as inputs; the mask is built inside from the last input (padding ids),
    the way models build it, so the comparisons and where/masked_fill are converted too."""

    def __init__(self, mask: str | None = None, **kw):
        super().__init__()
        self.mask, self.kw = mask, kw

    def forward(self, q, k, v, ids=None):
        m = None
        if self.mask == "bool":  # key padding: (B, 1, 1, Skv), True = attend
            m = (ids != 0)[:, None, None, :]
        elif self.mask == "arange":  # a lower-left band built from fixed ranges: (Sq, Skv)
            m = torch.arange(q.shape[-2])[:, None] + 2 >= torch.arange(k.shape[-2])[None, :]
        elif self.mask == "float":
            m = ((ids == 0).to(q.dtype) * -1e4 + 0.5 * ids)[:, None, None, :]
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m, **self.kw)


@dataclass
class Case:
    id: str
    build: Callable
    make: Callable  # (batch, seq, generator) -> inputs
    seq_axes: dict | None = None  # input index -> its sequence axis, exported as dynamic
    fx: bool = True  # torch.fx traces it (else tracer "auto" must fall back to torch.export)


def _ids(b, s, g):
    """Token ids with padding (0) at the end of every row but the first; no row all padding."""
    ids = torch.randint(1, 5, (b, s), generator=g)
    for r in range(1, b):
        ids[r, s - r:] = 0
    return ids.float()


def _qkv(hq, hkv, d=8, dv=3, sq=5, skv=7, three_d=False):
    def make(b, s, g):
        skv_ = skv + s - 5
        if three_d:
            return [torch.randn(b, sq, d, generator=g), torch.randn(b, skv_, d, generator=g),
                    torch.randn(b, skv_, dv, generator=g)]
        return [torch.randn(b, hq, sq, d, generator=g), torch.randn(b, hkv, skv_, d, generator=g),
                torch.randn(b, hkv, skv_, dv, generator=g)]
    return make


def _with_ids(make):
    def m(b, s, g):
        qkv = make(b, s, g)
        return qkv + [_ids(b, qkv[1].shape[-2], g)]
    return m


def _tokens(d=16):
    return lambda b, s, g: [torch.randn(b, s, d, generator=g)]


def _enc(**kw):
    torch.manual_seed(0)
    return nn.TransformerEncoderLayer(16, 4, 24, dropout=0.0, batch_first=True, **kw)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.layer = nn.TransformerDecoderLayer(16, 2, 24, dropout=0.0, batch_first=True, activation="gelu")

    def forward(self, x, memory):
        causal = nn.Transformer.generate_square_subsequent_mask(x.shape[1])
        return self.layer(x, memory, tgt_mask=causal, tgt_is_causal=True)


class Mha(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True, kdim=12, vdim=10)

    def forward(self, x, kv_k, kv_v):
        return self.attn(x, kv_k, kv_v, need_weights=False)[0]


CASES = [
    Case("sdpa", lambda: Sdpa(), _qkv(6, 6)),
    Case("sdpa_causal", lambda: Sdpa(is_causal=True), _qkv(6, 6)),
    Case("sdpa_scale", lambda: Sdpa(scale=0.3), _qkv(3, 3)),
    Case("sdpa_gqa_causal", lambda: Sdpa(is_causal=True, enable_gqa=True), _qkv(6, 2)),
    Case("sdpa_padding_mask", lambda: Sdpa("bool"), _with_ids(_qkv(6, 6))),
    Case("sdpa_gqa_padding_mask", lambda: Sdpa("bool", enable_gqa=True), _with_ids(_qkv(6, 3))),
    Case("sdpa_float_mask", lambda: Sdpa("float"), _with_ids(_qkv(2, 2))),
    Case("sdpa_arange_band_mask", lambda: Sdpa("arange"), _qkv(2, 2)),
    Case("sdpa_3d", lambda: Sdpa(), _qkv(1, 1, three_d=True)),
    Case("mha_kdim_vdim", Mha, lambda b, s, g: [torch.randn(b, s, 16, generator=g), torch.randn(b, 7, 12, generator=g),
                                              torch.randn(b, 7, 10, generator=g)], fx=False),
    Case("encoder_layer", lambda: _enc(), _tokens(), fx=False),
    Case("encoder_layer_dynamic_seq", lambda: _enc(), _tokens(), {0: 1}, fx=False),  # two symbolic sizes
    Case("encoder_layer_norm_first_gelu", lambda: _enc(norm_first=True, activation="gelu"), _tokens(), fx=False),
    Case("decoder_layer_causal", Decoder, lambda b, s, g: [torch.randn(b, s, 16, generator=g),
                                                           torch.randn(b, 6, 16, generator=g)], fx=False),
]


def give_signal(model) -> None:
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():  # LayerNorm's ones/zeros become random too
            p.copy_(torch.randn(p.shape, generator=g) * (0.3 if p.dim() > 1 else 0.5) + (1.0 if p.dim() == 1 else 0))


def convert_case(case: Case, model, tracer: str):
    x = case.make(2, 5, torch.Generator().manual_seed(0))
    if tracer == "fx" or not case.seq_axes:
        return from_torch(model, tuple(x), tracer=tracer if case.fx else "auto"), (5,)
    dyn = [{0: torch.export.Dim("batch")} for _ in x]
    for i, ax in case.seq_axes.items():
        dyn[i][ax] = torch.export.Dim("seq", min=2)
    with torch.no_grad():
        ep = torch.export.export(model, tuple(x), dynamic_shapes=tuple(dyn))
    return convert_program(ep)[0], (5, 8)
