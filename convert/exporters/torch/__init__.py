"""IR -> PyTorch: an nn.Module of real torch layers, saved as .pt2 or as editable source."""
from .export import export_program, generate, save, to_torch, unsupported, unsupported_pt2
from .files import save_source, source_runner
from .registry import TORCH_HANDLERS

__all__ = ["to_torch", "save", "unsupported", "unsupported_pt2", "generate", "export_program", "TORCH_HANDLERS", "save_source", "source_runner"]
