"""Weights a pass replaces are freed as it goes, not held beside their folded copies:
otherwise converting a BatchNorm-heavy model holds its weights twice (issue 12's memory
target). Checked with weak references to the original arrays."""
import gc
import weakref
from pathlib import Path

import numpy as np

from convert.api import load_model, preflight
from convert.formats import detect
from convert.ir import GraphBuilder, Source
from convert.passes import optimize
from helpers import assert_close, run_onnx

RNG = np.random.default_rng(5)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _conv_bn_chain(shared: bool):
    """x -> Conv(w0) -> BN -> Conv(w1) -> BN [-> Conv(w1) again when ``shared``]."""
    b = GraphBuilder("chain", "test")
    b.source = Source("test", "Layer", "chain")
    x = b.input("x", shape=("batch", 4, 6, 6))
    w0 = b.weight("w0", RNG.standard_normal((4, 4, 3, 3)).astype(np.float32))
    w1 = b.weight("w1", RNG.standard_normal((4, 4, 1, 1)).astype(np.float32))
    y = x
    for i, w in enumerate((w0, w1)):
        y = b.op("Conv", y, w, kernel_shape=[3, 3] if i == 0 else [1, 1], pads=[1, 1, 1, 1] if i == 0 else [0] * 4)
        y = b.op("BatchNormalization", y, b.weight(f"g{i}", RNG.uniform(0.5, 1.5, 4).astype(np.float32)),
                 b.weight(f"b{i}", RNG.standard_normal(4).astype(np.float32)),
                 b.weight(f"m{i}", RNG.standard_normal(4).astype(np.float32)),
                 b.weight(f"v{i}", RNG.uniform(0.5, 1.5, 4).astype(np.float32)), epsilon=1e-3)
    if shared:
        y = b.op("Conv", y, w1, kernel_shape=[1, 1])
    b.output(y)
    return b.finish(), {"x": RNG.standard_normal((2, 4, 6, 6)).astype(np.float32)}


def test_in_place_fold_frees_the_originals_and_keeps_the_numbers():
    g, feed = _conv_bn_chain(shared=False)
    want = run_onnx(g, feed, optimize=False)
    refs = {k: weakref.ref(g.weights[k]) for k in ("w0", "w1", "g0", "v1")}
    opt = optimize(g, in_place=True)
    gc.collect()
    assert opt is g and [n.op for n in opt.nodes] == ["Conv", "Conv"]
    # a conv weight nothing else refers to is scaled in place (it is the folded weight
    # now); every other original is gone
    alive = {k: r() for k, r in refs.items() if r() is not None}
    assert set(alive) == {"w0", "w1"} and all(any(a is w for w in opt.weights.values()) for a in alive.values())
    del alive
    got = run_onnx(opt, feed, optimize=False)
    for k in want:
        assert_close(got[k], want[k], rtol=1e-5, atol=1e-5, what="in-place fold")


def test_a_weight_another_node_reads_stays():
    g, feed = _conv_bn_chain(shared=True)
    want = run_onnx(g, feed, optimize=False)
    opt = optimize(g, in_place=True)
    assert "w1" in opt.weights and "w0" not in opt.weights
    got = run_onnx(opt, feed, optimize=False)
    for k in want:
        assert_close(got[k], want[k], rtol=1e-5, atol=1e-5, what="shared weight")


def test_copy_leaves_the_callers_graph_whole():
    g, _ = _conv_bn_chain(shared=False)
    before = dict(g.weights)
    optimize(g)
    assert g.weights.keys() == before.keys() and all(g.weights[k] is before[k] for k in before)


def test_a_pt2_model_does_not_hold_its_weights_outside_the_graph():
    # the loaded model keeps only the path for a later verification, not the archive's arrays
    loaded = load_model(str(FIXTURES / "tiny_resnet.pt2"))
    name = max(loaded.graph.weights, key=lambda k: loaded.graph.weights[k].size)
    ref = weakref.ref(loaded.graph.weights[name])
    preflight(loaded.graph, detect("x.onnx", None, reading=False), in_place=True)
    loaded.graph.weights.pop(name, None)
    # folded in place, the array lives on as the folded weight: drop that name too
    for k in [k for k, w in loaded.graph.weights.items() if w is ref()]:
        loaded.graph.weights.pop(k)
    gc.collect()
    assert ref() is None


def test_fold_in_place_only_when_nothing_else_sees_the_weight():
    g, feed = _conv_bn_chain(shared=False)
    copied = optimize(g)  # the caller's graph still holds every original: nothing in place
    kept = {k: g.weights[k].copy() for k in ("w0", "w1")}
    held = g.weights["w1"]  # the caller holds w1 itself: w1 is not scaled in place either
    opt = optimize(g, in_place=True)
    assert np.array_equal(held, kept["w1"]) and not any(w is held for w in opt.weights.values())
    w0 = next(w for k, w in opt.weights.items() if k.startswith("w0"))
    assert not np.shares_memory(w0, kept["w0"])
    for k, w in opt.weights.items():  # the same numbers as the copying fold
        assert np.array_equal(w, copied.weights[k]), k


def test_reader_memory_is_folded_in_place_unless_shared():
    from convert.passes.fold_bn import _exclusive

    reader_like = {"a": np.frombuffer(bytearray(64), np.float32)[2:14].reshape(3, 4)}
    buf = bytearray(64)
    two_over_one = {"a": np.frombuffer(buf, np.float32)[:8], "b": np.frombuffer(buf, np.float32)[8:]}
    del buf
    assert _exclusive(reader_like, "a") and not _exclusive(two_over_one, "a")
    import array

    foreign = {"a": np.asarray(array.array("f", [1.0, 2.0]))}  # memory numpy did not allocate
    read_only = {"a": np.frombuffer(bytes(16), np.float32)}
    strided = {"a": np.ones(4)[::2]}
    owned = {"a": np.ones(3)}
    assert not any(_exclusive(w, "a") for w in (foreign, read_only, strided))
    assert _exclusive(owned, "a")
    view = owned["a"][1:]
    assert not _exclusive(owned, "a")
    del view
    assert _exclusive(owned, "a")
