"""The formats nnconvert reads and writes: one table, from which the CLI, the support
matrix and format detection are derived. Handlers are named as "module:function" so no
framework is imported until a format is actually used."""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import UsageError


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    extensions: tuple[str, ...]
    reader: str | None = None   # (path, **options) -> LoadedModel
    writer: str | None = None   # (graph, path, **options) -> list[Path]
    # (path, device=, graph=) -> run(inputs) -> outputs, to verify a written file; without one, a
    # written file is read back with the format's own importer and run in its framework.
    runner: str | None = None
    unsupported: str | None = None  # (graph) -> list[Unsupported], what the writer cannot express
    extra: str = ""             # pip extra that brings the framework
    folder: bool = False        # the output is a folder (the only output --force may replace as a whole)
    written: tuple[str, ...] | None = None  # extensions of written files, where not ``extensions``
    fuses: str | None = None    # the writer's Fusion: activations it fuses into the layer before
    # (op, dtype) -> whether the target computes op in float16/bfloat16: formats with one take
    # --precision fp16/bf16 (convert.passes.precision); the others refuse it
    half: str | None = None

    def writes(self, suffix: str) -> bool:
        return bool(self.writer) and suffix in (self.extensions if self.written is None else self.written)


FORMATS: dict[str, Format] = {f.name: f for f in [
    Format("torch", "PyTorch: .pt2 ExportedProgram, file.py:factory (+ --weights), pickled module (--trust-pickle)",
           (".pt2", ".pt", ".pth", ".py"), reader="convert.importers.torch:load",
           writer="convert.exporters.torch:save",
           unsupported="convert.exporters.torch:unsupported_pt2", extra="torch", written=(".pt2",),
           half="convert.exporters.torch.half:computes"),
    Format("torch-source", "PyTorch: generated Python module + safetensors state_dict", (),
           writer="convert.exporters.torch:save_source", runner="convert.exporters.torch:source_runner",
           unsupported="convert.exporters.torch:unsupported", extra="torch", written=(".py",),
           half="convert.exporters.torch.half:computes"),
    Format("keras", "Keras 3 .keras archive, legacy tf.keras .h5", (".keras", ".h5"),
           reader="convert.importers.keras:load", writer="convert.exporters.keras:save",
           unsupported="convert.exporters.keras:unsupported", fuses="convert.exporters.keras.fusion:FUSION",
           extra="keras", written=(".keras",)),
    Format("caffe", "Caffe deploy.prototxt + .caffemodel (also legacy V1)", (".prototxt", ".caffemodel"),
           reader="convert.importers.caffe:load", writer="convert.exporters.caffe:save",
           runner="convert.verification.caffe_runner:runner", unsupported="convert.exporters.caffe:unsupported",
           fuses="convert.exporters.caffe.fusion:FUSION"),
    Format("mxnet", "MXNet name-symbol.json + name-0000.params (read without MXNet)", (".json", ".params"),
           reader="convert.importers.mxnet:load"),
    Format("chainer", "Chainer: file.py:factory (+ --weights model.npz), walked in Chainer's own environment",
           (), reader="convert.importers.chainer:load"),
    Format("onnx", "ONNX model (external data beyond 2 GiB)", (".onnx",),
           reader="convert.importers.onnx:load", writer="convert.exporters.onnx.file:save", runner="convert.runtime.session:runner",
           unsupported="convert.exporters.onnx.file:unsupported", half="convert.exporters.onnx.half:computes"),
    Format("tflite", "LiteRT (TensorFlow Lite) flatbuffer, builtin operators, channels-last inside", (".tflite",),
           reader="convert.importers.tflite:load", writer="convert.exporters.tflite:save",
           runner="convert.exporters.tflite:runner",
           unsupported="convert.exporters.tflite:unsupported", fuses="convert.exporters.tflite.fusion:FUSION",
           extra="litert"),
    Format("saved-model", "TensorFlow SavedModel folder (through the Keras export; needs TensorFlow)", (),
           writer="convert.exporters.keras.saved_model:save", runner="convert.exporters.keras.saved_model:runner",
           unsupported="convert.exporters.keras:unsupported", extra="tensorflow"),
    Format("nnir", "nnconvert IR folder (graph.json + weights.safetensors)", (".nnir",),
           reader="convert.importers.nnir:load", writer="convert.exporters.nnir:save",
           runner="convert.importers.nnir:runner",
           folder=True),
]}

_PY_TARGET = re.compile(r"^(?P<file>.+\.py):(?P<attr>[A-Za-z_][A-Za-z0-9_.]*)$")


def resolve(target: str) -> Callable[..., Any]:
    module, attr = target.split(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise UsageError(f"this format needs a package that is not installed ({e.name}); "
                         f"install the matching extra, e.g. pip install 'nnconvert[all]'") from e
    return getattr(mod, attr)


def detect(path: str, explicit: str | None = None, *, reading: bool) -> Format:
    """The format of ``path``: the explicit one, else by file name. An output name whose
    extension another format writes contradicts an explicit format: a usage error."""
    suffix = Path(path.rstrip("/")).suffix.lower()
    if explicit:
        fmt = FORMATS.get(explicit)
        if fmt is None:
            raise UsageError(f"unknown format {explicit!r}; known: {', '.join(FORMATS)}")
        own = fmt.written if fmt.written is not None else fmt.extensions
        if not reading and suffix and own and suffix not in own:
            # Checked here, before anything is written: the writer would name its temporary file.
            named = [f.name for f in FORMATS.values() if f.writes(suffix)]
            means = f"a {suffix} name means {' or '.join(named)}" if named else f"{explicit} files are not named {suffix}"
            raise UsageError(f"{path}: the format asked for is {explicit}, but {means}; name the output with "
                             f"{' or '.join(own[:2])}" + (f" or ask for {named[0]}" if named else ""))
        return fmt
    if _PY_TARGET.match(path):
        return FORMATS["torch"]
    for fmt in FORMATS.values():
        if (suffix in fmt.extensions and fmt.reader) if reading else fmt.writes(suffix):
            return fmt
    kind = "--from" if reading else "--to"
    raise UsageError(f"cannot tell the format of {path!r} from its name; pass {kind} "
                     f"({', '.join(n for n, f in FORMATS.items() if (f.reader if reading else f.writer))})")
