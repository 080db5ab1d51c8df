"""torch.onnx writes an LSTM's default zero state as ConstantOfShape of a batch-dependent
shape: the importer reads it as the IR's absent initial state, keeping the batch dynamic;
any other reader of such a fill is refused by name."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import convert
from helpers import assert_close

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")


class BiLSTM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(5, 4, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = torch.nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(self.lstm(x)[0])  # logits per step


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    m = BiLSTM().eval()
    path = tmp_path_factory.mktemp("rnn") / "bilstm.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (torch.randn(2, 6, 5),), str(path), dynamo=False, opset_version=17, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    assert "ConstantOfShape" in {n.op_type for n in onnx.load(str(path)).graph.node}
    return m, path


def _x(batch: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 6, 5)).astype(np.float32)


def test_zero_state_read_as_absent(exported):
    m, path = exported
    graph = convert.from_onnx(str(path))
    module = convert.to_torch(graph)
    for batch in (1, 3):
        x = torch.from_numpy(_x(batch, batch))
        with torch.no_grad():
            want = m(x).numpy()
            got = module(x).numpy()
        assert_close(got, want, 1e-4, 1e-5, f"bi-LSTM from torch.onnx at batch {batch}")
    with torch.no_grad():
        other = module(torch.from_numpy(_x(3, 9))).numpy()
    assert np.abs(other - want).max() > 1e-3


def test_other_reader_of_a_fill_refused(exported):
    from onnx import TensorProto, helper

    from convert.errors import UnsupportedError

    shape = helper.make_node("Shape", ["x"], ["s"])
    fill = helper.make_node("ConstantOfShape", ["s"], ["z"])
    add = helper.make_node("Add", ["x", "z"], ["y"], name="uses_fill")
    g = helper.make_graph([shape, fill, add], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    with pytest.raises(UnsupportedError, match="uses_fill"):
        convert.from_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
