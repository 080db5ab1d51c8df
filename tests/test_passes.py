"""Each optimisation pass: what it changes, and that the optimised graph computes the
same numbers as the unoptimised one in onnxruntime."""
import numpy as np
import pytest

from convert.ir import GraphBuilder, Source
from convert.api import optimize_graph as optimize
from convert.passes import PASSES
from helpers import assert_close, run_onnx

RNG = np.random.default_rng(3)


def _b(name):
    b = GraphBuilder(name, "test")
    b.source = Source("test", "Layer", name)
    return b


def transposes_graph():
    b = _b("tr")
    x = b.input("x", shape=("batch", 4, 5, 3))
    y = b.op("Transpose", x, perm=[0, 3, 1, 2])          # NHWC -> NCHW
    y = b.op("Relu", y)
    y = b.op("Sigmoid", y)
    y = b.op("Transpose", y, perm=[0, 2, 3, 1])          # back to NHWC: cancels with the first
    y = b.op("Transpose", y, perm=[0, 3, 1, 2])
    y = b.op("Transpose", y, perm=[0, 1, 3, 2])          # merges into one
    b.output(y)
    return b.finish(), {"x": RNG.standard_normal((2, 4, 5, 3)).astype(np.float32)}


def constants_graph():
    b = _b("const")
    x = b.input("x", shape=("batch", 3, 4, 4))
    slope = b.op("Reshape", b.weight("s", RNG.uniform(0, 0.5, 3)), shape=[3, 1, 1])
    y = b.op("PRelu", x, slope)
    bias = b.op("Unsqueeze", b.weight("bias", RNG.standard_normal((4,))), axes=[0])
    b.output(b.op("Add", y, bias))
    return b.finish(), {"x": RNG.standard_normal((2, 3, 4, 4)).astype(np.float32)}


def bn_graph(op):
    b = _b(op)
    if op == "Gemm":
        x = b.input("x", shape=("batch", 6))
        y = b.op("Gemm", x, b.weight("w", RNG.standard_normal((4, 6))), b.weight("c", RNG.standard_normal(4)), transB=1)
    else:
        x = b.input("x", shape=("batch", 4, 5, 5))
        # Conv: (M, C/g, k, k); ConvTranspose: (C, M/g, k, k); both 4 -> 4 channels in 2 groups.
        y = b.op(op, x, b.weight("w", RNG.standard_normal((4, 2, 3, 3))), kernel_shape=[3, 3], group=2)
    y = b.op("BatchNormalization", y, b.weight("g", RNG.uniform(0.5, 1.5, 4)), b.weight("be", RNG.standard_normal(4)),
             b.weight("m", RNG.standard_normal(4)), b.weight("v", RNG.uniform(0.5, 1.5, 4)), epsilon=1e-3)
    b.output(b.op("Relu", y))
    shape = (2, 6) if op == "Gemm" else (2, 4, 5, 5)
    return b.finish(), {"x": RNG.standard_normal(shape).astype(np.float32)}


CASES = [
    ("cancel-transposes", transposes_graph),
    ("fold-constants", constants_graph),
    ("fold-batchnorm-conv", lambda: bn_graph("Conv")),
    ("fold-batchnorm-convtranspose", lambda: bn_graph("ConvTranspose")),
    ("fold-batchnorm-gemm", lambda: bn_graph("Gemm")),
]

EXPECTED_OPS = {
    "cancel-transposes": ["Relu", "Sigmoid", "Transpose"],
    "fold-constants": ["PRelu", "Add"],
    "fold-batchnorm-conv": ["Conv", "Relu"],
    "fold-batchnorm-convtranspose": ["ConvTranspose", "Relu"],
    "fold-batchnorm-gemm": ["Gemm", "Relu"],
}


@pytest.mark.parametrize("name,build", CASES, ids=[c[0] for c in CASES])
def test_pass_preserves_numbers(name, build):
    g, feed = build()
    report = []
    opt = optimize(g, report=report)
    assert [n.op for n in opt.nodes] == EXPECTED_OPS[name]
    assert any(changes for _, changes in report)
    want = run_onnx(g, feed, optimize=False)
    got = run_onnx(opt, feed, optimize=False)
    for k in want:
        assert_close(got[k], want[k], rtol=1e-5, atol=1e-5, what=name)


def test_each_pass_can_be_disabled():
    g, _ = bn_graph("Conv")
    assert [n.op for n in optimize(g, disable=["fold-batchnorm"]).nodes] == ["Conv", "BatchNormalization", "Relu"]
    assert set(PASSES) >= {"remove-identity", "fold-constants", "cancel-transposes", "fold-batchnorm"}


def test_unknown_pass_is_usage_error():
    from convert.errors import UsageError

    g, _ = bn_graph("Conv")
    with pytest.raises(UsageError):
        optimize(g, disable=["nope"])


def test_remove_dead_nodes():
    b = _b("dead")
    x = b.input("x", shape=("batch", 3))
    unused = b.op("Sigmoid", x)
    b.op("Tanh", unused)
    b.output(b.op("Relu", x))
    g = b.finish()
    report = []
    opt = optimize(g, report=report)
    assert [n.op for n in opt.nodes] == ["Relu"]
    assert dict(report)["remove-dead"] == ["removed unused dead", "removed unused dead_1"]
    feed = {"x": RNG.standard_normal((2, 3)).astype(np.float32)}
    assert_close(run_onnx(opt, feed, optimize=False)["dead_2"], run_onnx(g, feed, optimize=False)["dead_2"])


def test_matcher_follows_single_use_producer_chains():
    from convert.ir.graph import Value
    from convert.passes.match import Matcher

    b = _b("chain")
    x = b.input("x", shape=("batch", 4, 5, 3))
    p = b.op("Pad", x, pads=[0, 1, 1, 0, 0, 1, 1, 0])
    t = b.op("Transpose", p, perm=[0, 3, 1, 2])
    y = b.op("Relu", t)
    b.output(b.op("Sigmoid", y))
    g = b.finish()
    relu = next(n for n in g.nodes if n.op == "Relu")
    m = Matcher(g)
    assert [n.op for n in m.chain(relu, "Transpose", "Pad")] == ["Transpose", "Pad"]
    assert [n.op for n in m.chain(relu, ("Conv", "Transpose"))] == ["Transpose"]
    assert m.chain(relu, "Pad") is None
    assert m.chain(relu, "Transpose", "Pad", "Pad") is None  # x is a graph input: no producer
    g.outputs.append(Value(t, "float32"))
    assert Matcher(g).chain(relu, "Transpose") is None  # a graph output is not single-use
