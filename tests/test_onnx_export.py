"""ONNX exporter: opset rewrites agree with native ops, determinism, external data, checker."""
import numpy as np
import onnx
import pytest

from convert.errors import UsageError
from convert.exporters.onnx import max_opset, save_onnx, to_onnx
from convert.ir import GraphBuilder, Source
from helpers import assert_close, run_onnx
from ir_graphs import conv_bn_graph


def one_op(op, shape=(2, 3, 4, 5), weights=(), **attrs):
    b = GraphBuilder(op, "test")
    b.source = Source("test", op, op.lower())
    x = b.input("x", shape=("batch",) + tuple(shape[1:]))
    ws = [b.weight(f"w{i}", w) for i, w in enumerate(weights)]
    b.output(b.op(op, x, *ws, **attrs))
    return b.finish()


X = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)

# Ops whose export is rewritten for some opsets: the rewrite at the lowest opset must
# agree with onnxruntime's native kernel at the newest opset.
REWRITES = [
    ("gelu_erf", "Gelu", {}, ()),
    ("gelu_tanh", "Gelu", {"approximate": "tanh"}, ()),
    ("hardswish", "HardSwish", {}, ()),
    ("mish", "Mish", {}, ()),
    ("layernorm_last", "LayerNormalization", {"axis": -1}, (np.linspace(0.5, 1.5, 5, dtype=np.float32),
                                                             np.linspace(-1, 1, 5, dtype=np.float32))),
    ("layernorm_two_axes", "LayerNormalization", {"axis": 2}, (np.ones((4, 5), np.float32),)),
    ("reduce_mean", "ReduceMean", {"axes": [1, 3], "keepdims": 0}, ()),
    ("reduce_max", "ReduceMax", {"axes": [2]}, ()),
    ("reduce_sumsq", "ReduceSumSquare", {"axes": [1]}, ()),
]


@pytest.mark.parametrize("name,op,attrs,weights", REWRITES, ids=[r[0] for r in REWRITES])
def test_low_opset_rewrite_matches_native(name, op, attrs, weights):
    g = one_op(op, weights=weights, **attrs)
    low = run_onnx(g, {"x": X}, opset=13)
    high = run_onnx(g, {"x": X}, opset=max_opset())
    (k, v), = low.items()
    assert_close(v, high[k], rtol=1e-5, atol=1e-6, what=name)


def np_silu(x, beta=1.0):
    return x / (1 + np.exp(-beta * x))


def np_mvn(x, axes, eps, after):
    d = x - x.mean(axis=tuple(axes), keepdims=True)
    var = (d * d).mean(axis=tuple(axes), keepdims=True)
    return d / (np.sqrt(var) + eps) if after else d / np.sqrt(var + eps)


# IR ops with no ONNX twin, against their numpy definition.
CUSTOM = [
    ("silu", "Silu", {}, lambda x: np_silu(x)),
    ("silu_beta", "Silu", {"beta": 1.5}, lambda x: np_silu(x, 1.5)),
    ("mvn", "MeanVarianceNormalization", {"axes": [2, 3], "epsilon": 1e-9, "eps_after_sqrt": 1},
     lambda x: np_mvn(x, [2, 3], 1e-9, True)),
    ("mvn_inside", "MeanVarianceNormalization", {"axes": [0, 2, 3], "epsilon": 1e-5},
     lambda x: np_mvn(x, [0, 2, 3], 1e-5, False)),
    ("lpnorm", "LpNormalization", {"axes": [1], "epsilon": 0.5},
     lambda x: x / np.sqrt((x * x).sum(1, keepdims=True) + 0.5)),
    ("clip_min_only", "Clip", {"min": 0.0}, lambda x: np.maximum(x, 0)),
    ("clip_relu6", "Clip", {"min": 0.0, "max": 6.0}, lambda x: np.clip(x, 0, 6)),
]


@pytest.mark.parametrize("name,op,attrs,ref", CUSTOM, ids=[c[0] for c in CUSTOM])
def test_ir_only_ops(name, op, attrs, ref):
    g = one_op(op, **attrs)
    for opset in (13, 17):
        (v,) = run_onnx(g, {"x": X}, opset=opset).values()
        assert_close(v, ref(X.astype(np.float64)).astype(np.float32), rtol=1e-5, atol=1e-6, what=f"{name}@{opset}")


def test_optimised_export_folds_bn_and_drops_dropout():
    g = conv_bn_graph()
    xs = np.random.default_rng(2).standard_normal((3, 3, 6, 6)).astype(np.float32)
    plain = run_onnx(g, {"x": xs}, optimize=False)
    opt = run_onnx(g, {"x": xs}, optimize=True)
    assert_close(opt["relu"], plain["relu"], rtol=1e-5, atol=1e-5, what="folded")
    from convert.api import optimize_graph as optimize

    ops = [n.op for n in optimize(g).nodes]
    assert ops == ["Conv", "Relu"]


def test_export_is_deterministic_and_checked(tmp_path):
    g = conv_bn_graph()
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    save_onnx(g, a)
    save_onnx(g, b)
    assert a.read_bytes() == b.read_bytes()
    m = onnx.load(str(a))
    onnx.checker.check_model(m, full_check=True)
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_external_data(tmp_path):
    g = conv_bn_graph()
    files = save_onnx(g, tmp_path / "m.onnx", external=True)
    assert [f.name for f in files] == ["m.onnx", "m.onnx.data"]
    import onnxruntime as ort

    x = np.ones((1, 3, 6, 6), np.float32)
    got = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    want = run_onnx(g, {"x": x}, optimize=False)["relu"]
    assert_close(got, want, rtol=0, atol=0, what="external")


@pytest.mark.parametrize("opset", [12, 99])
def test_opset_out_of_range(opset):
    with pytest.raises(UsageError):
        to_onnx(conv_bn_graph(), opset)


def test_opset_range_supported():
    g = conv_bn_graph()
    for opset in range(13, max_opset() + 1):
        m = to_onnx(g, opset)
        onnx.checker.check_model(m, full_check=True)
