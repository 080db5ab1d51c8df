"""The ONNX backend node suite through the ONNX importer (see onnx_conformance.py): the
pass rate may not fall, and the README's generated per-op table may not drift."""
from __future__ import annotations

import time

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
import onnx_conformance  # noqa: E402

pytestmark = pytest.mark.slow

# Measured share of in-scope cases that onnxruntime passes and that pass to PyTorch; a
# change that lowers it fails here (raise it when the importer grows).
FLOOR = 0.69
TARGET = 0.90


@pytest.fixture(scope="module")
def results():
    t0 = time.perf_counter()
    cases = onnx_conformance.run_all()
    print(f"conformance: {len(cases)} cases in {time.perf_counter() - t0:.1f} s")
    return cases


def _rate(cases, field: str) -> float:
    counted = [c for c in cases if not c.scope and c.ort_ok]
    return sum(getattr(c, field) for c in counted) / len(counted)


def test_pass_rate_does_not_fall(results):
    assert _rate(results, "torch_ok") >= FLOOR
    assert _rate(results, "onnx_ok") >= FLOOR
    # out of scope only by the reviewed constant, another domain, or a type outside the IR
    allowed = onnx_conformance.OUT_OF_SCOPE | {"dtype", "non-tensor type"}
    assert all(c.scope in allowed or c.scope.startswith("domain ") for c in results if c.scope)
    assert sum(1 for c in results if not c.scope and c.ort_ok) > 1000


@pytest.mark.xfail(strict=True, reason="Attention, RMSNormalization, GridSample, BitShift, several Resize modes "
                                       "and other ops are not in the IR yet")
def test_pass_rate_reaches_target(results):
    assert _rate(results, "torch_ok") >= TARGET


def test_readme_table_is_current(results):
    import onnx
    import onnxruntime

    block = onnx_conformance.readme_block()
    if f"onnx {onnx.__version__}, onnxruntime {onnxruntime.__version__}:" not in block:
        pytest.skip("the README table was generated with other onnx/onnxruntime versions")
    assert block == onnx_conformance.table(results), \
        "README conformance table drifted: run python tests/onnx_conformance.py --write"
