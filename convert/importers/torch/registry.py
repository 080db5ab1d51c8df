"""The ATen op registry: overload string (``"aten.conv2d.default"``) ->
``import_<op>(ctx, node) -> str | list``, one handler per op in ``layers/`` by family."""
from ...registry import Registry

REG: Registry = Registry("torch importer")
register = REG.register


def load_handlers() -> None:
    """Import every handler module (registration happens at import)."""
    from . import ops_act, ops_attention, ops_conv, ops_inplace, ops_logic, ops_math, ops_rnn, ops_shape  # noqa: F401
