"""The support matrix in the README is generated from the registries and must not drift."""
from convert.support import README_END, README_START, exporter_ops, importer_ops, readme_block
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

    for fw, ops in importer_ops().items():
        assert ops <= set(OPS), fw
