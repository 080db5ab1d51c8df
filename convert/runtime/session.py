"""Run ONNX models in onnxruntime, on the CPU or, when asked, strictly on CUDA."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import CannotVerifyError

Run = Callable[[dict], dict]

PROVIDERS = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}


def make_session(model, device: str = "cpu", extra_outputs: bool = False):
    import onnxruntime as ort

    if device not in PROVIDERS:
        raise CannotVerifyError(f"unknown device {device!r} (cpu or cuda)")
    if device == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        raise CannotVerifyError("--device cuda: onnxruntime's CUDAExecutionProvider is not available "
                                "(install onnxruntime-gpu: pip install 'nnconvert[gpu]')")
    so = ort.SessionOptions()
    so.log_severity_level = 3
    src = str(model) if isinstance(model, (str, Path)) else model
    try:
        sess = ort.InferenceSession(src, so, providers=PROVIDERS[device])
    except Exception as e:  # onnxruntime raises several unrelated classes
        raise CannotVerifyError(f"onnxruntime cannot load the model: {str(e).splitlines()[0]}") from e
    if device == "cuda" and sess.get_providers()[0] != "CUDAExecutionProvider":
        raise CannotVerifyError("--device cuda: the session fell back to the CPU; CUDA is not active "
                                f"(providers in use: {sess.get_providers()})")
    return sess


def session_runner(model, device: str = "cpu") -> Run:
    sess = make_session(model, device)

    def run(inputs: dict) -> dict:
        names = [o.name for o in sess.get_outputs()]
        feed = {i.name: np.asarray(inputs[i.name]) for i in sess.get_inputs()}
        return dict(zip(names, sess.run(names, feed)))

    run.providers = sess.get_providers()  # type: ignore[attr-defined]
    run.input_shapes = [list(i.shape) for i in sess.get_inputs()]  # type: ignore[attr-defined]
    return run


def runner(path: str, *, device: str = "cpu", **_ignored) -> Run:
    """An ONNX file as a verification runner (the ONNX format's ``runner``)."""
    return session_runner(path, device)


def load_model(model):
    """An onnx.ModelProto from a path, serialized bytes or a ModelProto (external data loaded)."""
    import onnx

    if isinstance(model, (str, Path)):
        return onnx.load(str(model))
    if isinstance(model, (bytes, bytearray)):
        return onnx.load_from_string(bytes(model))
    return model


def value_types(model) -> dict[str, int]:
    """ONNX element type of every value shape inference can type (inputs, outputs, intermediates)."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001  (types stay unknown; those values are skipped)
        inferred = model
    g = inferred.graph
    out = {}
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
            out[vi.name] = vi.type.tensor_type.elem_type
    for t in g.initializer:
        out[t.name] = t.data_type
    return out


def with_outputs(model, names: list[str]):
    """A copy of ``model`` whose graph also outputs ``names`` (values it computes and can type)."""
    from onnx import helper

    m = type(model)()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    types = value_types(model)
    produced = {o for n in m.graph.node for o in n.output if o}
    added = []
    for name in names:
        if name in produced and name not in have and name in types:
            m.graph.output.append(helper.make_tensor_value_info(name, types[name], None))
            added.append(name)
    return m, added


def layers_runner(model, device: str = "cpu"):
    """``run_layers(inputs, value_names) -> arrays`` for an ONNX model: the requested
    values it computes become extra graph outputs of one extra session."""
    base = load_model(model)
    cache: dict = {}

    def run_layers(inputs: dict, names: list[str]) -> dict:
        key = tuple(names)
        if key not in cache:
            m, added = with_outputs(base, list(names))
            cache.clear()
            cache[key] = (make_session(m.SerializeToString(), device), set(added))
        sess, added = cache[key]
        outs = [o.name for o in sess.get_outputs()]
        feed = {i.name: np.asarray(inputs[i.name]) for i in sess.get_inputs()}
        got = dict(zip(outs, sess.run(outs, feed)))
        return {k: v for k, v in got.items() if k in added or k in names}

    run_layers.model = base  # type: ignore[attr-defined]
    return run_layers


def graph_runner(graph, device: str = "cpu", opset: int | None = None) -> Run:
    """Run an IR graph: exported to ONNX (at ``opset``; by default the exporter's default, or
    the first opset that writes every node where some op is newer) in onnxruntime."""
    from ..exporters.onnx import inference_opset, to_onnx

    return session_runner(to_onnx(graph, opset or inference_opset(graph)).SerializeToString(), device=device)
