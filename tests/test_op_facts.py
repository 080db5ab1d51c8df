"""Op facts kept in the op table: gate orders per framework, Caffe's pooled size."""
import numpy as np

from convert.ir.optable.pool import caffe_pooled_size
from convert.ir.optable.rnn import GATE_ORDER, gate_perm, reorder_gates


def test_gate_orders_round_trip_and_match_the_frameworks():
    # torch / cuDNN pack LSTM i,f,g,o and GRU r,z,n; the IR (ONNX) LSTM i,o,f,c and GRU z,r,h
    assert gate_perm("LSTM", "torch", "onnx") == [0, 3, 1, 2]
    assert gate_perm("GRU", "mxnet", "onnx") == [1, 0, 2]
    assert gate_perm("LSTM", "onnx", "keras") == [0, 2, 3, 1] and gate_perm("GRU", "onnx", "keras") == [0, 1, 2]
    assert gate_perm("LSTM", "onnx", "caffe") == [0, 2, 1, 3]
    w = np.arange(8 * 3, dtype=np.float32).reshape(8, 3)
    for fw, ops in GATE_ORDER.items():
        for op in ops:
            n = len(ops[op])
            m = w[: 2 * n]
            assert np.array_equal(reorder_gates(reorder_gates(m, op, "onnx", fw), op, fw, "onnx"), m), (fw, op)
    # blocks, not rows: hidden 2, so block k is rows 2k, 2k+1
    assert reorder_gates(w, "LSTM", "torch", "onnx")[2:4].tolist() == w[6:8].tolist()


def test_caffe_pooled_size():
    assert caffe_pooled_size(5, 2, 2, 0, ceil=True) == 3  # ceil rounding keeps the overhang window
    assert caffe_pooled_size(5, 2, 2, 0, ceil=False) == 2
    assert caffe_pooled_size(5, 1, 3, 0, ceil=True) == 3  # no pad: Caffe keeps a window starting past the end
    assert caffe_pooled_size(5, 2, 2, 1, ceil=True) == 3  # ceil((5+2-2)/2)+1 = 4, the last starts in the pad


def test_elementwise_unary_flag_is_what_the_transpose_pass_moves_through():
    from convert.ir.optable import OPS
    from convert.passes.transposes import UNARY

    flagged = {n for n, s in OPS.items() if s.elementwise_unary}
    assert UNARY == flagged and {"Relu", "Floor", "Clip", "Dropout", "Cast"} <= flagged
    assert not flagged & {"Softmax", "PRelu", "Pow", "Add", "Transpose"}  # an axis, a broadcast operand, two inputs
    for name in flagged:
        required = [p for p in OPS[name].inputs if not p.optional]
        assert len(required) == 1 and not required[0].variadic, name
