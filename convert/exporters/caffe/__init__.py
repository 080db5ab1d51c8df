"""IR -> Caffe: deploy.prototxt + .caffemodel written with the project's caffe.proto.

Only what Caffe expresses exactly is written; everything else is reported by node
name before any file exists. Importing this package imports no framework."""
from __future__ import annotations


def save(graph, path, **options):
    from .export import save as _save

    return _save(graph, path, **options)


def unsupported(graph, **options):
    from .export import unsupported as _unsupported

    return _unsupported(graph, **options)


def to_caffe(graph, **options):
    """(NetParameter without weights, list of blobs per layer)."""
    from .export import to_caffe as _to_caffe

    return _to_caffe(graph, **options)


__all__ = ["save", "unsupported", "to_caffe"]
