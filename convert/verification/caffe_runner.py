"""Verifying a written Caffe net: there is no Caffe runtime here, so the written files
are re-imported with the Caffe importer and that graph runs in onnxruntime."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from google.protobuf import text_format

from ..caffe_proto import caffe_pb2, file_pair
from ..ir.graph import Graph
from ..importers.caffe import from_caffe
from ..runtime.session import Run, graph_runner


def graph_for(proto_path: Path, model_path: Path, shapes: dict[str, tuple] | None) -> Graph:
    """The written net re-imported, with its Input shapes set first when ``shapes`` is
    given (what Caffe's Net::Reshape does when a caller feeds another batch size)."""
    if not shapes:
        return from_caffe(str(proto_path), str(model_path))
    net = text_format.Parse(proto_path.read_text(encoding="utf-8"), caffe_pb2.NetParameter())
    for layer in net.layer:
        if layer.type == "Input":
            del layer.input_param.shape[:]
            for top in layer.top:
                layer.input_param.shape.add().dim.extend(int(d) for d in shapes[top])
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / proto_path.name
        p.write_text(text_format.MessageToString(net), encoding="utf-8")
        return from_caffe(str(p), str(model_path))


def runner(path: str, *, device: str = "cpu", **_ignored) -> Run:
    """There is no Caffe runtime here: re-import the written files with the Caffe importer
    and run that graph in onnxruntime (re-imported again per new input shape, as Caffe
    reshapes its net)."""
    proto_path, model_path = file_pair(path)
    first = graph_for(proto_path, model_path, None)
    declared = {v.name: tuple(v.shape) for v in first.inputs}
    sessions = {tuple(sorted(declared.items())): graph_runner(first, device)}

    def run(inputs: dict) -> dict:
        shapes = {k: tuple(np.shape(inputs[k])) for k in declared}
        key = tuple(sorted(shapes.items()))
        if key not in sessions:
            graph = graph_for(proto_path, model_path, shapes)
            sessions[key] = graph_runner(graph, device)
        return sessions[key](inputs)

    run.providers = next(iter(sessions.values())).providers  # type: ignore[attr-defined]
    return run

