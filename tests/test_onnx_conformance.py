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
FLOOR = 0.95  # measured: 98.6% to PyTorch, 98.9% through the ONNX round trip (at the case's opset)
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


# A representative subset through ONNX -> IR -> Keras: every case here must match; the
# second list is refused by the Keras exporter by name (never converted to wrong numbers).
KERAS_MATCH = [
    "test_basic_conv_with_padding", "test_conv_with_strides_padding", "test_maxpool_2d_default", "test_maxpool_2d_pads",
    "test_averagepool_2d_default", "test_globalaveragepool", "test_relu", "test_sigmoid", "test_tanh",
    "test_leakyrelu", "test_elu", "test_add", "test_mul", "test_sub", "test_batchnorm_example",
    "test_batchnorm_epsilon", "test_softmax_axis_1", "test_softmax_default_axis", "test_reshape_reduced_dims",
    "test_flatten_axis1", "test_concat_3d_axis_1", "test_convtranspose", "test_max_example", "test_exp",
    "test_lstm_defaults",  # an LSTM whose time-major batch ONNX splits off: Keras' Split and GetItem
    "test_batchnorm_example_training_mode", "test_mvn",  # batch statistics as IR reductions
    "test_clip", "test_clip_min_greater_than_max",  # keras.ops maximum/minimum: max everywhere when min > max
]
KERAS_REFUSED = ["test_gemm_default_no_bias", "test_depthtospace_example", "test_lrn",
                 "test_resize_upsample_scales_nearest"]


def test_keras_subset():
    pytest.importorskip("keras")
    from convert.errors import UnsupportedError

    cases = {c.name: c for c in onnx_conformance.collect()}
    failed = [n for n in KERAS_MATCH if not onnx_conformance.run_keras(cases[n])]
    assert failed == []
    for name in KERAS_REFUSED:
        with pytest.raises(UnsupportedError):
            onnx_conformance.run_keras(cases[name])
