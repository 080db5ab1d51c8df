"""Exporters: IR -> target format. Each target lives in its own subpackage and imports
its framework lazily."""
