"""The ONNX exporter reports every node it cannot write at the chosen opset, at once, with
the project's error types: handler refusals and ops newer than the opset alike."""
import numpy as np
import pytest

from convert.errors import UnsupportedError
from convert.exporters.onnx import to_onnx, unsupported_ops
from convert.ir import GraphBuilder, Source


def _graph():
    """x -> Trilu (ONNX from opset 14) -> LpNormalization p=3 (no ONNX form) -> Relu."""
    b = GraphBuilder("errors", "test")
    x = b.input("x", shape=(1, 3, 4, 4))
    b.source = Source("test", "Trilu", "tri")
    y = b.op("Trilu", x, upper=1)
    b.source = Source("test", "LpNormalization", "lp3")
    y = b.op("LpNormalization", y, p=3, axes=[1])
    b.source = Source("test", "Relu", "relu")
    b.output(b.op("Relu", y))
    return b.finish()


def test_every_problem_is_listed_at_once_by_name():
    with pytest.raises(UnsupportedError) as e:
        to_onnx(_graph(), 13)
    items = {(i.layer, i.layer_type): i for i in e.value.items}
    assert set(items) == {("tri", "Trilu"), ("lp3", "LpNormalization")}
    assert "needs opset >= 14" in items[("tri", "Trilu")].hint
    assert items[("lp3", "LpNormalization")].attribute == "p" and items[("lp3", "LpNormalization")].value == 3
    # the pre-flight check names the too-new op without building anything
    assert [(u.layer, u.layer_type) for u in unsupported_ops(_graph(), 13)] == [("tri", "Trilu")]


def test_a_passthrough_op_the_opset_has_is_written():
    b = GraphBuilder("mod", "test")
    b.source = Source("test", "Mod", "mod")
    x = b.input("x", shape=(2, 3))
    b.output(b.op("Mod", x, b.weight("k", np.full((2, 3), 2.0, np.float32)), fmod=1))
    g = b.finish()
    model = to_onnx(g, 13)
    assert unsupported_ops(g, 13) == [] and [n.op_type for n in model.graph.node] == ["Mod"]
