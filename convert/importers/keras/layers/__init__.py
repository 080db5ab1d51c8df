"""Layer handlers, one module per layer family; importing this package registers them."""
from . import activations, attention, conv, core, merge, norm, ops, pool, reshape, rnn, wrappers  # noqa: F401
