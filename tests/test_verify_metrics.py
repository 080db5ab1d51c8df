"""Verification metrics, tolerances and input generation: edge cases as tables.

Expected values here are worked out by hand from the definitions (|a - b| <= atol + rtol*|b|),
not produced by the code under test."""
import math

import numpy as np
import pytest

from convert.ir import GraphBuilder
from convert.ir.graph import Source
from convert.verification.core import tolerance_for
from convert.verification.inputs import input_plan
from convert.verification.metrics import compare, default_tolerance

f32 = np.float32
nan, inf = float("nan"), float("inf")

# (id, actual, expected, rtol, atol, ok, checks on fields)
CASES = [
    ("identical", [1.0, -2.0, 3.0], [1.0, -2.0, 3.0], 1e-4, 1e-4, True,
     {"max_abs": 0.0, "mean_abs": 0.0, "max_rel": 0.0, "cosine": 1.0, "frac_outside": 0.0, "min_atol": 0.0, "min_rtol": 0.0}),
    ("all_zeros", [0.0, 0.0], [0.0, 0.0], 1e-4, 1e-4, True,
     {"max_abs": 0.0, "max_rel": 0.0, "cosine": 1.0}),
    ("zero_vs_tiny_within_atol", [0.0, 1e-5], [0.0, 0.0], 0.0, 1e-4, True,
     {"max_abs": 1e-5, "frac_outside": 0.0, "min_rtol": 0.0}),
    ("zero_vs_nonzero_outside_atol", [0.0, 1e-3], [0.0, 0.0], 1e-4, 1e-4, False,
     {"max_abs": 1e-3, "frac_outside": 0.5, "min_atol": 1e-3, "min_rtol": inf, "cosine": 0.0}),
    ("relative_error_only", [101.0, 1.0], [100.0, 1.0], 1e-2, 0.0, True,
     {"max_abs": 1.0, "max_rel": 0.01, "min_rtol": 0.01}),
    ("just_outside_rtol", [102.0], [100.0], 1e-2, 0.0, False,
     {"max_abs": 2.0, "frac_outside": 1.0, "min_rtol": 0.02, "min_atol": 1.0}),
    ("sign_flip", [-1.0, -2.0], [1.0, 2.0], 1e-4, 1e-4, False, {"cosine": -1.0, "max_abs": 4.0}),
    ("nan_same_place", [nan, 1.0], [nan, 1.0], 1e-4, 1e-4, True, {"nonfinite_mismatch": 0, "max_abs": 0.0}),
    ("nan_vs_number", [nan, 1.0], [0.5, 1.0], 1e-4, 1e-4, False, {"nonfinite_mismatch": 1}),
    ("inf_same_sign", [inf, -inf], [inf, -inf], 1e-4, 1e-4, True, {"nonfinite_mismatch": 0}),
    ("inf_opposite_sign", [inf, 0.0], [-inf, 0.0], 1e-4, 1e-4, False, {"nonfinite_mismatch": 1}),
    ("inf_vs_large", [inf], [3e38], 1e-4, 1e-4, False, {"nonfinite_mismatch": 1}),
    ("empty", np.zeros((0, 3)), np.zeros((0, 3)), 1e-4, 1e-4, True, {"max_abs": 0.0}),
]


@pytest.mark.parametrize("name,actual,expected,rtol,atol,ok,checks", CASES, ids=[c[0] for c in CASES])
def test_compare_edge_cases(name, actual, expected, rtol, atol, ok, checks):
    m = compare("y", np.asarray(actual, f32), np.asarray(expected, f32), rtol, atol)
    assert m.ok is ok
    for field, want in checks.items():
        got = getattr(m, field)
        if math.isinf(want):
            assert got == want, field
        else:
            assert got == pytest.approx(want, rel=1e-5, abs=1e-7), field


@pytest.mark.parametrize("actual_shape,expected_shape", [((2, 3), (3, 2)), ((1, 6), (6,)), ((2, 3), (4, 3))],
                         ids=["transposed", "rank", "batch"])
def test_shape_mismatch_fails_with_note(actual_shape, expected_shape):
    m = compare("y", np.zeros(actual_shape, f32), np.zeros(expected_shape, f32), 1.0, 1.0)
    assert not m.ok
    assert m.max_abs == inf and m.frac_outside == 1.0
    assert str(list(actual_shape)) in m.note and str(list(expected_shape)) in m.note


def test_top1_top5_on_class_scores():
    expected = np.array([[0, 1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1, 0]], f32)
    actual = expected.copy()
    actual[0, 5] = 10.0  # row 0: argmax moves from class 6 to 5; top-5 set unchanged
    actual[1, 6] = 5.5   # row 1: class 6 enters the top 5 in place of class 2
    m = compare("logits", actual, expected, 1e-4, 1e-4)
    assert m.top1 == 0.5 and m.top5 == 0.5
    assert compare("flat", actual[0], expected[0], 1e-4, 1e-4).top1 is None  # not (N, C)


@pytest.mark.parametrize("dtype,device,want", [
    ("float32", "cpu", (1e-4, 1e-4)), ("float16", "cpu", (1e-2, 1e-2)), ("bfloat16", "cpu", (5e-2, 5e-2)),
    ("float64", "cpu", (1e-7, 1e-8)), ("int64", "cpu", (0.0, 0.0)), ("bool", "cpu", (0.0, 0.0)),
    ("float32", "cuda", (1e-3, 1e-3)), ("float16", "cuda", (1e-2, 1e-2)),
], ids=lambda v: str(v))
def test_default_tolerances(dtype, device, want):
    assert default_tolerance(dtype, device) == want


def test_tolerance_origin_is_reported():
    assert tolerance_for("float32", None, None, "cpu") == (1e-4, 1e-4, "default float32 cpu")
    assert tolerance_for("float32", 1e-3, 1e-6, "cpu") == (1e-3, 1e-6, "given")
    assert tolerance_for("float16", None, 0.5, "cpu")[:2] == (1e-2, 0.5)


def _embed_graph():
    """ids -> Gather(table 7 rows) and a float image with dynamic batch, height and width."""
    b = GraphBuilder("two_inputs", "test")
    b.source = Source("test", "Embedding", "emb")
    ids = b.input("ids", "int64", ("batch", "seq"))
    b.output(b.op("Gather", b.weight("table", np.ones((7, 2), f32)), ids, axis=0))
    b.source = Source("test", "ReLU", "relu")
    img = b.input("img", "float32", ("batch", 3, "h", "w"))
    b.output(b.op("Relu", img))
    return b.finish()


def test_inputs_two_sizes_for_every_dynamic_dim_and_ids_in_vocab():
    plan = input_plan(_embed_graph(), samples=2, seed=3)
    assert len(plan) == 4  # 2 samples x 2 size variants
    shapes = {tuple(p.shapes["img"]) for p in plan}
    assert shapes == {(1, 3, 80, 80), (3, 3, 96, 96)}  # image axes: SPATIAL_SIZES; other dims: 16 and 24
    assert {tuple(p.shapes["ids"]) for p in plan} == {(1, 16), (3, 24)}
    for p in plan:
        assert p.arrays["ids"].dtype == np.int64
        assert 0 <= p.arrays["ids"].min() and p.arrays["ids"].max() < 7
        assert p.arrays["img"].dtype == np.float32
    # Seeded: the same plan twice is the same arrays; different samples differ.
    again = input_plan(_embed_graph(), samples=2, seed=3)
    assert all(np.array_equal(a.arrays["img"], b.arrays["img"]) for a, b in zip(plan, again))
    assert not np.array_equal(plan[0].arrays["img"], plan[1].arrays["img"])


def test_fixed_input_shape_gives_one_size():
    plan = input_plan(_embed_graph(), seed=0, overrides={"img": (2, 3, 8, 8), "ids": (2, 5)})
    assert [p.shapes for p in plan] == [{"ids": [2, 5], "img": [2, 3, 8, 8]}]
