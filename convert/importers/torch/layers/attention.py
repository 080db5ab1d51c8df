"""Scaled dot-product attention and the size arithmetic around it.

``nn.MultiheadAttention`` (and so ``nn.TransformerEncoderLayer``/``DecoderLayer`` and
torchvision's ViT) reaches torch.export as linear/view/transpose around one
``aten.scaled_dot_product_attention``; the head split multiplies SymInt sizes
(``bsz * num_heads``) with Python's operators."""
from __future__ import annotations

from ....errors import UnsupportedAttributeError
from ....ir.graph import Value
from ..context import TorchContext
from ..registry import register


@register("aten.scaled_dot_product_attention.default", emits=("Attention", "Unsqueeze"))
def import_sdpa(ctx: TorchContext, node) -> str:
    q, k, v, mask, dropout_p, is_causal, scale, enable_gqa = ctx.args(node)
    if dropout_p:
        raise UnsupportedAttributeError("dropout_p", dropout_p, "0.0 (F.scaled_dot_product_attention applies "
                                        "dropout even in eval mode)")
    rank = ctx.rank(q)
    if rank not in (3, 4) or ctx.rank(k) != rank or ctx.rank(v) != rank:
        raise UnsupportedAttributeError("rank", rank, "3-D (B, S, D) or 4-D (B, H, S, D) query, key and value")
    if rank == 4:
        hq, hkv = ctx.shape(q)[1], ctx.shape(k)[1]
        if hq != hkv and not (enable_gqa and isinstance(hq, int) and isinstance(hkv, int) and hq % hkv == 0):
            raise UnsupportedAttributeError("heads", (hq, hkv), "equal query and key/value heads, or enable_gqa "
                                            "with query heads a multiple of key/value heads")
    attrs = {"is_causal": int(bool(is_causal))}
    if scale is not None:
        attrs["scale"] = float(scale)
    ins = [ctx.v(t) for t in (q, k, v)]
    _record(ctx, ins, (q, k, v))
    if mask is not None:
        m = ctx.v(mask)
        _record(ctx, [m], [mask])
        # 3-D attention broadcasts a (B, Sq, Skv) mask per batch; the IR's to (B, H, Sq, Skv)
        ins.append(ctx.op("Unsqueeze", m, axes=[1]) if rank == 3 and ctx.rank(mask) == 3 else m)
    if rank == 4:
        return ctx.op("Attention", *ins, **attrs)
    # (B, S, D) is one head: the IR's 3-D form packs heads into the last axis.
    return ctx.op("Attention", *ins, q_num_heads=1, kv_num_heads=1, **attrs)


def _record(ctx: TorchContext, names: list[str], args) -> None:
    """Exporters that decompose the op need the head counts, sizes and the mask's dtype."""
    for name, t in zip(names, args):
        if hasattr(t, "meta"):
            ctx.b.graph.values.setdefault(name, Value(name, ctx.dtype(t), ctx.shape(t)))


@register("<built-in function mul>", "<built-in function floordiv>", "<built-in function add>",
          "<built-in function sub>", emits=())
def import_size_arithmetic(ctx: TorchContext, node):
    """Arithmetic on sizes (``bsz * num_heads``): reshape targets are read from the traced
    output shapes, so the result is only a marker; a tensor use of it is refused."""
    return ("sym", node)
