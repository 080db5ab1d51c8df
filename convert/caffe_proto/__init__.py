"""Caffe's file format (the project's own ``schemas/caffe.proto``, compiled to
``caffe_pb2.py``): shared by the Caffe importer and exporter. Importing this package
imports nothing; ``caffe_pb2`` needs protobuf."""
from __future__ import annotations

from pathlib import Path

from ..errors import UsageError


def file_pair(path: str | Path) -> tuple[Path, Path]:
    """(prototxt, caffemodel) for an output path naming either one."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".prototxt":
        return path, path.with_suffix(".caffemodel")
    if suffix == ".caffemodel":
        return path.with_suffix(".prototxt"), path
    raise UsageError(f"{path}: the Caffe target writes a .prototxt (+ .caffemodel beside it) or a .caffemodel")
