"""The ATen op registry: overload string (``"aten.conv2d.default"``) ->
``import_<op>(ctx, node) -> str | list``, one handler per op in ``layers/`` by family."""
from ...registry import Registry

REG: Registry = Registry("torch importer")
register = REG.register


def load_handlers() -> None:
    """Import every handler module (registration happens at import)."""
    from .layers import (activation, attention, conv, embedding, identity, inplace, logic, math, norm,  # noqa: F401
                         padding, pooling, rnn, shape, upsample)
