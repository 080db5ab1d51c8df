"""Run a ``.tflite`` file in LiteRT's interpreter, in IR layout: the layouts nnconvert
stored in the file's metadata turn each channels-last tensor back into its IR value."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from ...errors import CannotVerifyError, ModelLoadError
from ...ir.perm import inverse
from .metadata import read_metadata

Run = Callable[[dict], dict]
METADATA = "nnconvert_layouts"  # file metadata: IR value and layout of every stored tensor


def stored_layouts(path: str | Path) -> dict:
    """nnconvert's layout metadata of a ``.tflite`` file ({} for a file written elsewhere),
    read without reading the rest of the file (its weights)."""
    raw = read_metadata(path, METADATA)
    if raw is None:
        return {}
    try:
        meta = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as e:
        raise ModelLoadError(str(path), f"metadata {METADATA!r} is not JSON ({e})") from e
    if not isinstance(meta, dict):
        raise ModelLoadError(str(path), f"metadata {METADATA!r} is not a JSON object")
    return meta


class LiteRTModel:
    """One model file; an interpreter per set of input shapes (dynamic dims are resized)."""

    def __init__(self, path: str | Path, names: tuple[list[str], list[str]] | None = None,
                 values: dict[str, str] | None = None):
        """``names``: the IR input and output names, by position; ``values``: tensor name ->
        IR value, for a file without nnconvert's metadata (IR layout is then the file's)."""
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ModuleNotFoundError as e:
            raise CannotVerifyError("running .tflite files needs ai-edge-litert "
                                    "(pip install 'nnconvert[litert]')") from e
        self._interpreter = Interpreter
        self.path = str(path)
        self.meta = stored_layouts(path)
        self.tensors = {k: (v, tuple(p)) for k, v, p in
                        ((k, v[0], v[1]) for k, v in self.meta.get("tensors", {}).items())}
        if values is not None:
            self.tensors = {k: (v, None) for k, v in values.items()}
        self.names = names
        self._cache: dict = {}

    def _session(self, inputs: dict, preserve: bool):
        if not self._cache:
            probe = self._make(False)
            self._details = probe.get_input_details(), probe.get_output_details()
        ins, outs = self._details
        in_names, out_names = self.names or (self.meta.get("inputs") or [d["name"] for d in ins],
                                             self.meta.get("outputs") or [d["name"] for d in outs])
        if len(in_names) != len(ins) or len(out_names) != len(outs):
            raise CannotVerifyError(f"{self.path} has {len(ins)} input(s) and {len(outs)} output(s); the source "
                                    f"has {len(in_names)} and {len(out_names)}")
        feed = [self._stored(d["name"], inputs[n]).astype(d["dtype"]) for d, n in zip(ins, in_names)]
        key = (preserve, tuple(a.shape for a in feed))
        if key not in self._cache:
            interp = self._make(preserve)
            for d, a in zip(ins, feed):
                if tuple(d["shape"]) != a.shape:
                    interp.resize_tensor_input(d["index"], a.shape, strict=True)
            try:
                interp.allocate_tensors()
            except Exception as e:  # noqa: BLE001  (the interpreter raises RuntimeError/ValueError)
                raise CannotVerifyError(f"LiteRT cannot run {self.path}: {str(e).splitlines()[0]}") from e
            self._cache[key] = interp
        interp = self._cache[key]
        for d, a in zip(ins, feed):
            interp.set_tensor(d["index"], a)
        interp.invoke()
        return interp, outs, out_names

    def _make(self, preserve: bool):
        try:
            return self._interpreter(model_path=self.path, num_threads=1,
                                     experimental_preserve_all_tensors=preserve)
        except Exception as e:  # noqa: BLE001
            raise CannotVerifyError(f"LiteRT cannot load {self.path}: {str(e).splitlines()[0]}") from e

    def _stored(self, tensor: str, arr) -> np.ndarray:
        perm = self.tensors.get(tensor, (None, None))[1]
        arr = np.asarray(arr)
        return np.transpose(arr, perm) if perm is not None else arr

    def _ir(self, tensor: str, arr: np.ndarray) -> np.ndarray:
        perm = self.tensors.get(tensor, (None, None))[1]
        return np.transpose(arr, inverse(perm)) if perm is not None else arr

    def run(self, inputs: dict) -> dict:
        interp, outs, out_names = self._session(inputs, False)
        return {n: self._ir(d["name"], interp.get_tensor(d["index"])) for d, n in zip(outs, out_names)}

    def run_layers(self, inputs: dict, names: list[str]) -> dict:
        """The IR values among ``names`` that the file holds as tensors (all are kept)."""
        interp, _, _ = self._session(inputs, True)
        wanted = set(names)
        got = {}
        for d in interp.get_tensor_details():
            value = self.tensors.get(d["name"], (None,))[0]
            if value in wanted and value not in got:
                try:
                    arr = np.array(interp.get_tensor(d["index"]))
                except ValueError:  # a tensor the interpreter did not keep
                    continue
                scale, zero = d.get("quantization", (0.0, 0))
                if arr.dtype == np.int8 and scale:  # a full-int8 file's activation, as float
                    arr = (arr.astype(np.float32) - zero) * np.float32(scale)
                got[value] = self._ir(d["name"], arr)
        return got


def runner(path: str, *, device: str = "cpu", graph=None, **_ignored) -> Run:
    if device != "cpu":
        raise CannotVerifyError(f"--device {device} applies to ONNX targets; .tflite files run on the CPU here")
    names = ([v.name for v in graph.inputs], [v.name for v in graph.outputs]) if graph is not None else None
    model = LiteRTModel(path, names)

    def run(inputs: dict) -> dict:
        return model.run(inputs)

    run.providers = ["LiteRT interpreter (CPU)"]  # type: ignore[attr-defined]
    mode = model.meta.get("weights", "fp32")
    if mode != "fp32":
        from .context import WEIGHT_MODES

        full, now = model.meta.get("fp32_weight_bytes", 0), model.meta.get("weight_bytes", 0)
        run.tolerance = WEIGHT_MODES.get(mode)  # type: ignore[attr-defined]
        run.note = (f"weights stored as {mode}: {now} bytes, {now / max(full, 1):.2f}x their fp32 size "  # type: ignore[attr-defined]
                    f"({full} bytes); default tolerance rtol {run.tolerance[0]}, atol {run.tolerance[1]}")
    run.layers = model.run_layers  # type: ignore[attr-defined]
    return run
