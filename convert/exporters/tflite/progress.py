"""Progress while the flatbuffer is packed: one step per tensor buffer holding data."""
from __future__ import annotations

from ...progress import Progress, Ticker


def count_packed(buffers: list, progress: Progress | None) -> Ticker:
    """Wrap ``Pack`` on each buffer with data (the object API packs them one by one
    inside ``ModelT.Pack``) so every packed tensor is counted."""
    full = [b for b in buffers if b.data is not None and len(b.data)] if progress is not None else []
    tick = Ticker(progress, len(full))
    for buf in full:
        def counted(builder, _pack=buf.Pack):
            out = _pack(builder)
            tick()
            return out
        buf.Pack = counted
    return tick
