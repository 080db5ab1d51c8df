"""Registry of PyTorch export handlers: ``handler(ctx, node)`` declares torch layers on
the context and writes the forward line(s) computing ``node.outputs``."""
from ...registry import Registry

TORCH_HANDLERS: Registry = Registry("torch exporter", ir_keys=True)
register = TORCH_HANDLERS.register
