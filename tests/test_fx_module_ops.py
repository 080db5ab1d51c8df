"""The fx front end's same-shape leaves come from the op table: each torch module in
MODULE_OPS converts to the IR op named there, and where that op keeps its input's shape
(the shape pass passes the input on) torch agrees."""
import pytest

torch = pytest.importorskip("torch")

from convert.importers.torch import from_torch  # noqa: E402
from convert.importers.torch.fx.front import MODULE_OPS, SAME_SHAPE  # noqa: E402
from convert.ir.optable import OPS  # noqa: E402

_ARGS = {"LayerNorm": (6,), "BatchNorm1d": (3,), "BatchNorm2d": (3,), "BatchNorm3d": (3,), "Softmax": (1,),
         "LogSoftmax": (1,), "PReLU": (3,)}
_INPUT = {"BatchNorm1d": (2, 3, 6), "Dropout1d": (2, 3, 6), "BatchNorm3d": (2, 3, 2, 2, 6), "LayerNorm": (2, 3, 6)}
_DECOMPOSED = {"Softsign": {"Abs", "Add", "Div"}}  # x / (1 + |x|), written out by the importer


def test_same_shape_leaves_are_the_op_tables():
    assert SAME_SHAPE == {m for m, op in MODULE_OPS.items() if OPS[op].keeps_shape}
    assert {"Softmax", "BatchNorm2d", "ReLU"} <= SAME_SHAPE


@pytest.mark.parametrize("name", sorted(MODULE_OPS))
def test_module_becomes_its_ir_op(name):
    torch.manual_seed(0)
    mod = getattr(torch.nn, name)(*_ARGS.get(name, ())).eval()
    x = torch.randn(*_INPUT.get(name, (2, 3, 4, 6)))
    graph = from_torch(mod, (x,))
    ops = {n.op for n in graph.nodes}
    op = MODULE_OPS[name]
    assert ops == _DECOMPOSED.get(name, {op}), ops
    if OPS[op].keeps_shape:
        assert tuple(mod(x).shape) == tuple(x.shape)
