"""Importers: source framework -> IR. Each framework lives in its own subpackage and is
imported lazily."""
