"""A repro for the first diverging layer: the target's ONNX nodes computing that value
from values the source also produced (a single-layer model: the nodes, their weights,
their inputs as graph inputs), plus an .npz with the source's input arrays and the
source's expected output, keyed by name (the --reference layout)."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from ..runtime.session import session_runner, value_types
from .core import compare_one


def extract(model, value: str, available: set[str]):
    """The smallest subgraph of ``model`` computing ``value`` whose graph inputs are in
    ``available`` (or are the model's own inputs). Returns (ModelProto, input names)."""
    from onnx import helper

    g = model.graph
    producer = {o: n for n in g.node for o in n.output if o}
    inits = {t.name: t for t in g.initializer}
    needed_nodes: list = []
    inputs: list[str] = []
    used_inits: list[str] = []
    seen: set[str] = set()
    todo = [value]
    while todo:
        v = todo.pop()
        if v in seen or not v:
            continue
        seen.add(v)
        if v in inits:
            used_inits.append(v)
        elif v != value and (v in available or v not in producer):
            inputs.append(v)
        else:
            n = producer[v]
            if all(n is not k for k in needed_nodes):
                needed_nodes.append(n)
                todo.extend(n.input)
                # Subgraph attributes (If/Loop bodies) may read outer values too.
                for a in n.attribute:
                    for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                        todo.extend(i for sn in sub.node for i in sn.input)
    order = {id(n): i for i, n in enumerate(g.node)}
    nodes = sorted(needed_nodes, key=lambda n: order[id(n)])
    types = value_types(model)
    graph = helper.make_graph(
        nodes, f"repro_{value}",
        [helper.make_tensor_value_info(i, types.get(i, 1), None) for i in sorted(inputs)],
        [helper.make_tensor_value_info(value, types.get(value, 1), None)],
        initializer=[inits[i] for i in sorted(set(used_inits))])
    m = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version,
                          producer_name="nnconvert-repro")
    return m, sorted(inputs)


def safe_file_name(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", value).strip("._") or "value"


def repro_stem(value: str) -> str:
    """``repro_<whole sanitised name>_<hash>``: distinct values never share a file, even
    when sanitising makes their names equal (``a/b`` and ``a_b``)."""
    digest = hashlib.sha1(value.encode("utf-8")).hexdigest()[:8]
    return f"repro_{safe_file_name(value)}_{digest}"


def write_repro(model, value: str, source: dict, target: dict, out_dir: str | Path,
                device: str = "cpu") -> tuple[dict[str, str], str]:
    """Write ``<value>.onnx`` and ``<value>.npz`` into ``out_dir``; returns the repro
    entry for the report and a note on what running the repro gives."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    m, inputs = extract(model, value, set(source))
    arrays = {i: np.asarray(source[i] if i in source else target[i]) for i in inputs}
    stem = repro_stem(value)  # not with_suffix: a dotted layer name would lose its tail
    onnx_path, npz_path = out / f"{stem}.onnx", out / f"{stem}.npz"
    onnx_path.write_bytes(m.SerializeToString())
    np.savez(npz_path, **arrays, **{value: np.asarray(source[value])})
    entry = {"onnx": str(onnx_path), "npz": str(npz_path), "value": value, "inputs": ", ".join(inputs),
             "nodes": ", ".join(f"{n.name} ({n.op_type})" for n in m.graph.node)}
    try:
        got = session_runner(m.SerializeToString(), device)(arrays)[value]
        mm = compare_one(value, got, source[value], None, None, device)
        note = (f"the repro reproduces the divergence from the source's own inputs: max abs {mm.max_abs:.3e}"
                if not mm.ok else "the repro, fed the source's inputs, matches: the error comes from earlier "
                "values that were not compared")
    except Exception as e:  # noqa: BLE001  (the repro is a convenience; its failure is reported, not raised)
        note = f"the repro model does not run on its own: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return entry, note
