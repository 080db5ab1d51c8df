"""The package layering, read from the source (ast, nothing imported): the IR and the
passes know no importer, exporter, runtime or framework, imports inside functions
included; the runtime sits below the importers and verification."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "convert"

# Deep-learning frameworks and their file-format libraries.
FRAMEWORKS = {"torch", "torchvision", "keras", "tensorflow", "tf_keras", "onnx", "onnxruntime", "onnxscript",
              "caffe", "mxnet", "chainer", "google", "h5py", "flatbuffers", "ai_edge_litert", "tflite"}
UPPER = ("convert.importers", "convert.exporters", "convert.runtime", "convert.verification", "convert.api",
         "convert.cli", "convert.formats", "convert.plugins", "convert.support", "convert.inspection",
         "convert.loaded", "convert.caffe_proto")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, package: str) -> set[str]:
    """Every module ``source`` (a module of ``package``) imports, anywhere in it,
    relative imports resolved."""
    parts = package.split(".")
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = parts[:len(parts) - node.level + 1] if node.level else []
            mod = ".".join([*base, *([node.module] if node.module else [])])
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)  # `from . import x` imports a module
    return found


def violations(package: str, forbidden_prefixes: tuple[str, ...], frameworks=FRAMEWORKS) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
        for mod in sorted(imports(path.read_text(encoding="utf-8"), package)):
            top = mod.split(".")[0]
            if top in frameworks or any(mod == p or mod.startswith(p + ".") for p in forbidden_prefixes):
                out.append(f"{path.relative_to(ROOT.parent)} imports {mod}")
    return out


@pytest.mark.parametrize("package", ["ir", "passes"])
def test_ir_and_passes_know_no_format_runtime_or_framework(package):
    assert violations(package, UPPER) == []


def test_runtime_builds_on_the_onnx_exporter_alone():
    above = tuple(p for p in UPPER if p not in ("convert.runtime", "convert.exporters")) + tuple(
        f"convert.exporters.{t}" for t in ("keras", "torch", "caffe", "tflite", "nnir", "common", "channels_last"))
    assert violations("runtime", above, FRAMEWORKS - {"onnx", "onnxruntime"}) == []


def test_the_walk_sees_function_level_and_relative_imports():
    """The checker itself can fail: lazy imports of an exporter and a framework are caught."""
    src = "def f():\n    from ..exporters.onnx import to_onnx\n    import onnxruntime\n    from . import dead\n"
    found = imports(src, "convert.passes")
    assert {"convert.exporters.onnx", "onnxruntime", "convert.passes.dead"} <= found
    assert not {"convert.passes.exporters.onnx"} & found
