"""Gathers with computed (run-time) indices through the LiteRT writer: GATHER and GATHER_ND
fed by an index tensor, negative indices counted from the end as torch and ONNX do, each
file run in LiteRT's interpreter against the source framework (torch, or onnxruntime for
an ONNX GatherND). Gathers are exact, so the tolerance is float32 rounding of the conv."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_close

torch = pytest.importorskip("torch")
pytest.importorskip("ai_edge_litert")
nn = torch.nn


class ChannelPick(nn.Module):
    """conv (channels-last inside the file), then channels picked by a computed index
    (torch's index_select takes no negative index; the other cases do)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)

    def forward(self, x, i):
        return torch.index_select(torch.relu(self.conv(x)), 1, i) * 2.0


class RowPick(nn.Module):
    """Rows of a dynamic batch picked by index (the axis size is read at run time)."""

    def forward(self, x, i):
        return x[i] + 1.0


class Embed(nn.Module):
    """A constant table gathered by token ids computed from the input."""

    def __init__(self):
        super().__init__()
        self.table = nn.Embedding(7, 5)

    def forward(self, ids):
        return self.table(ids).sum(1)


def _litert(graph, path, feeds: dict) -> np.ndarray:
    from convert.exporters.tflite import runner, to_tflite

    data, ctx = to_tflite(graph, io_layout="nhwc")
    path.write_bytes(data)
    return runner(str(path), graph=graph)(feeds)[graph.outputs[0].name], ctx


def _torch_case(model, args, tmp_path, others):
    """``model`` on ``args`` against its .tflite, and on every argument tuple of ``others``
    (other indices move the output: the indices are read, not baked in)."""
    import convert
    from convert.api import prepare

    graph, _ = prepare(convert.from_torch(model.eval(), args))
    names = [v.name for v in graph.inputs]
    first = None
    for i, a in enumerate((args, *others)):
        with torch.no_grad():
            ref = model(*a).numpy()
        got, ctx = _litert(graph, tmp_path / f"m{i}.tflite", {n: t.numpy() for n, t in zip(names, a)})
        assert_close(got, ref, 1e-5, 1e-6, type(model).__name__)
        assert ctx.transposes == 0
        if first is None:
            first = got
        elif got.shape == first.shape:
            assert np.abs(got - first).max() > 1e-2
    return graph


def test_gather_channels_with_computed_indices(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 4)  # the index list shares the (dynamic) batch axis' length
    _torch_case(ChannelPick(), (x, torch.tensor([0, 5, 2, 1])), tmp_path,
                [(x, torch.tensor([5, 1, 4, 3])), (torch.randn(3, 3, 5, 4), torch.tensor([1, 1, 0]))])


def test_gather_rows_of_a_dynamic_axis(tmp_path):
    torch.manual_seed(1)
    x = torch.randn(4, 3)
    graph = _torch_case(RowPick(), (x, torch.tensor([-1, 0, 2, -4])), tmp_path,
                        [(x, torch.tensor([3, -3, 1, 1])), (torch.randn(6, 3), torch.tensor([5, -6, -2, 0, 1, -1]))])
    from convert.exporters.tflite import to_tflite

    _, ctx = to_tflite(graph)
    assert "SHAPE" in _codes(ctx)  # the axis size is read off the data when it runs


def test_embedding_table_with_computed_ids(tmp_path):
    torch.manual_seed(2)
    ids = torch.tensor([[1, 6, 3], [0, 2, 2]])
    _torch_case(Embed(), (ids,), tmp_path, [(torch.tensor([[5, 4, 0], [6, 6, 1]]),)])


def _codes(ctx) -> set[str]:
    names = {v: k for k, v in vars(ctx.S.BuiltinOperator).items() if not k.startswith("_")}
    return {names[ctx.opcodes[o.opcodeIndex].builtinCode] for o in ctx.operators}


def _onnx_gather_nd(batch_dims: int = 0):
    from onnx import TensorProto, helper

    node = helper.make_node("GatherND", ["data", "indices"], ["y"], batch_dims=batch_dims)
    graph = helper.make_graph([node], "gnd",
                              [helper.make_tensor_value_info("data", TensorProto.FLOAT, [3, 4, 5]),
                               helper.make_tensor_value_info("indices", TensorProto.INT64, [2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_gather_nd_computed_negative_indices_against_onnxruntime(tmp_path):
    import onnxruntime as ort

    from convert.importers.onnx import from_onnx

    model = _onnx_gather_nd()
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    graph = from_onnx(model)
    rng = np.random.default_rng(3)
    data = rng.standard_normal((3, 4, 5)).astype(np.float32)
    outs = []
    for idx in ([[0, -1], [-3, 2]], [[2, 3], [1, -4]]):
        feeds = {"data": data, "indices": np.array(idx, np.int64)}
        ref = sess.run(None, feeds)[0]
        got, _ = _litert(graph, tmp_path / "gnd.tflite", feeds)
        assert_close(got, ref, 0, 0, "GatherND")
        outs.append(got)
    assert np.abs(outs[0] - outs[1]).max() > 1e-2


def test_gather_nd_batch_dims_refused_by_name():
    from convert.exporters.tflite import unsupported
    from convert.importers.onnx import from_onnx

    problems = unsupported(from_onnx(_onnx_gather_nd(batch_dims=1)))
    assert [(p.layer_type, p.attribute) for p in problems] == [("GatherND", "batch_dims")]
