"""The support matrix in the README is generated from the registries' declarations and must not drift."""
import pytest

from convert.registry import Registry
from convert.support import README_END, README_START, exporter_ops, importer_ops, readme_block, undeclared
from conftest import REPO


def test_readme_matrix_is_current():
    text = (REPO / "README.md").read_text()
    block = text[text.index(README_START): text.index(README_END) + len(README_END)]
    assert block == readme_block(), "README support matrix drifted: run python -m convert.support"


def test_onnx_exports_every_op():
    from convert.ir.optable import OPS

    assert exporter_ops()["onnx"] == set(OPS)


def test_importer_ops_are_ir_ops():
    from convert.ir.optable import OPS

    wrong = {fw: sorted(ops - set(OPS)) for fw, ops in importer_ops().items() if ops - set(OPS)}
    assert not wrong, f"importers declare ops the op table does not have: {wrong}"


def test_every_importer_handler_declares_what_it_emits():
    missing = undeclared()
    assert not missing, "importer handlers without emits=(...):\n" + "\n".join(missing)


def test_a_missing_or_wrong_declaration_is_caught():
    reg = Registry("probe importer")
    reg.register("A", emits=("Relu",))(lambda: None)
    reg.register("B", "C", emits={"B": "Sigmoid"})(lambda: None)
    reg.register("D")(lambda: None)
    assert reg.emits("A") == {"Relu"} and reg.emits("B") == {"Sigmoid"}
    assert reg.emits("C") is None and reg.emits("D") is None
    assert [u.split(" ")[0] for u in reg.undeclared()] == ["C", "D"]
    with pytest.raises(TypeError):
        reg.register("E", emits="Relu")
    assert Registry("probe exporter", ir_keys=True).emits("Conv") == {"Conv"}
    assert Registry("lowering", produces_ir=False).undeclared() == []
