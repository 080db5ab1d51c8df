"""The framework-free intermediate representation."""
from .builder import GraphBuilder
from .graph import DTYPES, Graph, Node, Source, Value
from .serialize import load, save
from .validate import validate

__all__ = ["Graph", "Node", "Value", "Source", "GraphBuilder", "DTYPES", "validate", "load", "save"]
