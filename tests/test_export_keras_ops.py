"""The Keras exporter's keras.ops handlers (comparisons, logic, Where, Gather, CumSum,
Einsum, Trilu, Expand, Erf, Sin/Cos, TopK, ArgMax, ...): one tiny ONNX model per op, run
in onnxruntime (the source), imported, exported to Keras and compared."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_close

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("keras")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
SHAPE = ["N", 3, 5]
RNG = np.random.default_rng(0)
TABLE = RNG.standard_normal((7, 4)).astype(np.float32)
COLS = RNG.standard_normal((5, 4)).astype(np.float32)


def _n(op, ins, outs=("y",), **attrs):
    return helper.make_node(op, list(ins), list(outs), **attrs)


def _c(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


# name -> (nodes, initializers, inputs [(name, elem type)], output (elem type, shape), positive inputs)
CASES = {
    "where_greater": ([_n("Greater", ["x", "z"], ["m"]), _n("Where", ["m", "x", "z"])], [], [("x", F), ("z", F)],
                      (F, SHAPE)),
    "less_or_not": ([_n("Less", ["x", "z"], ["a"]), _n("Not", ["a"], ["b"]), _n("Equal", ["x", "x"], ["e"]),
                     _n("And", ["b", "e"], ["c"]), _n("Or", ["c", "a"], ["d"]), _n("Xor", ["d", "b"], ["f"]),
                     _n("Cast", ["f"], to=F)], [], [("x", F), ("z", F)], (F, SHAPE)),
    "erf_sin_cos_neg": ([_n("Erf", ["x"], ["a"]), _n("Sin", ["a"], ["b"]), _n("Cos", ["x"], ["c"]),
                         _n("Neg", ["c"], ["d"]), _n("Add", ["b", "d"])], [], [("x", F)], (F, SHAPE)),
    "sqrt_log_reciprocal_pow": ([_n("Sqrt", ["x"], ["a"]), _n("Log", ["x"], ["b"]), _n("Reciprocal", ["x"], ["c"]),
                                 _n("Pow", ["x", "z"], ["d"]), _n("Sum", ["a", "b", "c", "d"])], [],
                                [("x", F), ("z", F)], (F, SHAPE), True),
    "floor_ceil_abs": ([_n("Floor", ["x"], ["a"]), _n("Ceil", ["x"], ["b"]), _n("Abs", ["x"], ["c"]),
                        _n("Mul", ["a", "b"], ["d"]), _n("Add", ["d", "c"])], [], [("x", F)], (F, SHAPE)),
    "div_by_constant_tensor": ([_n("Div", ["x", "w"])], [_c("w", RNG.random((3, 5)).astype(np.float32) + 0.5)],
                               [("x", F)], (F, SHAPE)),
    "reduce_sum_min_prod": ([_n("ReduceSum", ["x", "ax"], ["a"], keepdims=1), _n("ReduceMin", ["x"], ["b"], axes=[2]),
                            _n("ReduceProd", ["x"], ["c"], axes=[1], keepdims=0), _n("Add", ["a", "b"], ["d"]),
                            _n("Unsqueeze", ["c", "one"], ["e"]), _n("Mul", ["d", "e"])],
                           [_c("ax", np.array([2])), _c("one", np.array([1]))], [("x", F)], (F, ["N", 3, 5])),
    "reduce_mean_max_one_axis": ([_n("ReduceMean", ["x"], ["a"], axes=[1], keepdims=1),
                                  _n("ReduceMax", ["x"], ["b"], axes=[-1], keepdims=1), _n("Add", ["a", "b"])],
                                 [], [("x", F)], (F, ["N", 3, 5])),
    "gather_table": ([_n("Cast", ["x"], ["i"], to=I64), _n("Gather", ["t", "i"], axis=0)], [_c("t", TABLE)],
                     [("x", F)], (F, ["N", 3, 5, 4]), "ids"),
    "gather_columns": ([_n("Gather", ["x", "idx"], axis=2)], [_c("idx", np.array([4, 0, 2]))], [("x", F)],
                       (F, ["N", 3, 3])),
    "cumsum": ([_n("CumSum", ["x", "axis"])], [_c("axis", np.array(2))], [("x", F)], (F, SHAPE)),
    "einsum": ([_n("Einsum", ["x", "w"], equation="bij,jk->bik")], [_c("w", COLS)], [("x", F)], (F, ["N", 3, 4])),
    "trilu_lower_k1": ([_n("Trilu", ["x", "k"], upper=0)], [_c("k", np.array(1))], [("x", F)], (F, SHAPE)),
    "trilu_upper": ([_n("Trilu", ["x"], upper=1)], [], [("x", F)], (F, SHAPE)),
    "expand": ([_n("Unsqueeze", ["x", "one"], ["u"]), _n("Expand", ["u", "s"])],
               [_c("one", np.array([1])), _c("s", np.array([1, 4, 1, 1]))], [("x", F)], (F, ["N", 4, 3, 5])),
    "argmax": ([_n("ArgMax", ["x"], axis=2, keepdims=0)], [], [("x", F)], (I64, ["N", 3])),
    "topk": ([_n("TopK", ["x", "k"], ["v", "i"]), _n("Cast", ["i"], ["fi"], to=F), _n("Add", ["v", "fi"])],
             [_c("k", np.array([2]))], [("x", F)], (F, ["N", 3, 2])),
}


def _model(case):
    nodes, inits, ins, (out_type, out_shape), *_ = CASES[case]
    g = helper.make_graph(nodes, case, [helper.make_tensor_value_info(n, t, SHAPE) for n, t in ins],
                          [helper.make_tensor_value_info("y", out_type, out_shape)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _inputs(case, batch: int, seed: int):
    kind = CASES[case][4] if len(CASES[case]) > 4 else None
    rng = np.random.default_rng(seed)
    out = {}
    for name, _ in CASES[case][2]:
        if kind == "ids":
            out[name] = rng.integers(0, 7, (batch, 3, 5)).astype(np.float32)
        elif kind:
            out[name] = (rng.random((batch, 3, 5)) + 0.5).astype(np.float32)
        else:
            out[name] = (rng.standard_normal((batch, 3, 5)) * 2).astype(np.float32)
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_keras_ops_export_matches_onnxruntime(case):
    from convert.exporters.keras import to_keras
    from convert.importers.onnx import from_onnx

    model = _model(case)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    graph = from_onnx(model)
    km = to_keras(graph)
    assert all(type(layer).__name__ != "Lambda" for layer in km.layers)
    for batch in (2, 3):
        feeds = _inputs(case, batch, seed=batch)
        want = sess.run(None, feeds)[0]
        xs = [feeds[v.name] for v in graph.inputs]
        got = np.asarray(km(xs if len(xs) > 1 else xs[0], training=False))
        assert got.dtype == want.dtype or np.issubdtype(want.dtype, np.floating)
        assert_close(got, want, 1e-5, 1e-5, f"{case} batch {batch}")
    other = sess.run(None, _inputs(case, 2, seed=7))[0]
    assert not np.array_equal(other, sess.run(None, _inputs(case, 2, seed=2))[0])  # the input matters
