"""MXNet operator handlers, one file per family; importing this package registers them."""
from . import activation, conv, elementwise, norm, pool, rnn, shape  # noqa: F401
