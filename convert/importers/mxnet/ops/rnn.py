"""The fused RNN operator (LSTM, GRU, vanilla RNN; gluon's rnn.LSTM/GRU/RNN layers).

MXNet packs every parameter into one flat vector in cuDNN's layout: first the weights,
per layer and direction i2h (gates*H, in) then h2h (gates*H, H); then the biases in the
same order. Gates are cuDNN's: LSTM i, f, g, o and GRU r, z, n with the reset gate
applied after the recurrent matmul (ONNX linear_before_reset=1). The IR wants LSTM
i, o, f, c and GRU z, r, h. Gluon exports the vector as ``_rnn_param_concat`` of the
flattened per-layer parameters, which is resolved here from the stored arrays.
"""
from __future__ import annotations

import numpy as np

from ....errors import UnsupportedAttributeError
from ....ir.optable.rnn import reorder_gates
from ..context import NodeContext
from ..registry import register
from .shape import import_concat

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}
IR_OP = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN", "rnn_relu": "RNN"}
Y_TO_MXNET = [0, 2, 1, 3]  # IR Y (seq, dirs, batch, hidden) -> (seq, batch, dirs, hidden)

register("_rnn_param_concat", emits=("Concat",))(import_concat)  # the RNN reads the stored arrays; the Concat goes unused


def _flat(ctx: NodeContext, index: int, depth: int = 0) -> np.ndarray:
    """The stored values behind node ``index``: a parameter, or reshapes/concats of them."""
    node = ctx.s.nodes[index]
    if depth > 64:
        raise UnsupportedAttributeError("parameters", node.name, "nested too deeply")
    if node.op == "null":
        arr = ctx.s.params.get(node.name)
        if arr is None:
            raise UnsupportedAttributeError("parameters", node.name, "not a stored parameter")
        ctx.s.used_params.add(node.name)
        return arr.reshape(-1).astype(np.float32)
    if node.op in ("Reshape", "reshape", "Flatten", "flatten") and len(node.inputs) == 1:
        return _flat(ctx, node.inputs[0][0], depth + 1)
    if node.op in ("_rnn_param_concat", "Concat", "concat"):
        return np.concatenate([_flat(ctx, src, depth + 1) for src, _ in node.inputs])
    raise UnsupportedAttributeError("parameters", node.name, f"computed by {node.op}, not stored")


def _reorder(w: np.ndarray, mode: str, hidden: int) -> np.ndarray:
    return reorder_gates(w, IR_OP[mode], "mxnet", "onnx")


def _unpack(flat: np.ndarray, mode: str, layers: int, dirs: int, inp: int, h: int) -> list:
    """Per layer: (W, R, B) stacked over directions, gates reordered for the IR."""
    g = GATES[mode]
    sizes, shapes = [], []
    for layer in range(layers):
        width = inp if layer == 0 else dirs * h
        for _ in range(dirs):
            shapes += [(g * h, width), (g * h, h)]
    shapes += [(g * h,)] * (2 * layers * dirs)
    sizes = [int(np.prod(s)) for s in shapes]
    if flat.size != sum(sizes):
        raise UnsupportedAttributeError("parameters", flat.size, f"expected {sum(sizes)} values for {layers} "
                                        f"layer(s) x {dirs} direction(s), input {inp}, hidden {h}")
    parts = np.split(flat, np.cumsum(sizes)[:-1])
    arrays = [p.reshape(s) for p, s in zip(parts, shapes)]
    n_w = 2 * layers * dirs
    weights, biases = arrays[:n_w], arrays[n_w:]
    out = []
    for layer in range(layers):
        ks = [layer * dirs + d for d in range(dirs)]
        W = np.stack([_reorder(weights[2 * k], mode, h) for k in ks])
        R = np.stack([_reorder(weights[2 * k + 1], mode, h) for k in ks])
        B = np.stack([np.concatenate([_reorder(biases[2 * k], mode, h), _reorder(biases[2 * k + 1], mode, h)])
                      for k in ks])
        out.append((W, R, B))
    return out


def _state(ctx: NodeContext, i: int, layer: int, dirs: int, shape) -> str:
    """Slice this layer's initial state out of MXNet's (layers*dirs, N, H) input."""
    if i >= ctx.n_inputs or ctx.is_zeros(i):
        return ""
    return ctx.op("Slice", ctx.x(i), dims=(dirs, *shape[1:]), hint=f"state{i}_l{layer}",
                  starts=[layer * dirs], ends=[(layer + 1) * dirs], axes=[0])


@register("RNN", emits=("Concat", "Flatten", "GRU", "Identity", "LSTM", "RNN", "Relu", "Reshape", "Slice", "Transpose"))
def import_rnn(ctx: NodeContext, node):
    mode = ctx.choice("mode", "lstm", tuple(GATES))
    h, layers = ctx.int("state_size"), ctx.int("num_layers", 1)
    dirs = 2 if ctx.bool("bidirectional", False) else 1
    for key in ("projection_size", "lstm_state_clip_min", "lstm_state_clip_max"):
        if ctx.attr(key, None) is not None:
            raise UnsupportedAttributeError(key, ctx.str(key), "not supported")
    if ctx.bool("use_sequence_length", False):
        raise UnsupportedAttributeError("use_sequence_length", True, "variable-length sequences")
    shp = ctx.shape(0)
    if len(shp) != 3:
        raise UnsupportedAttributeError("input rank", len(shp), "data is (seq, batch, features)")
    t, n, inp = shp
    per_layer = _unpack(_flat(ctx, node.inputs[1][0]), mode, layers, dirs, inp, h)
    used = {k for other in ctx.s.nodes for src, k in other.inputs if src == node.index}
    ir_op = {"lstm": "LSTM", "gru": "GRU"}.get(mode, "RNN")
    attrs = dict(hidden_size=h, direction="bidirectional" if dirs == 2 else "forward")
    if mode == "gru":
        attrs["linear_before_reset"] = 1
    if mode == "rnn_relu":
        attrs["activations"] = ["Relu"] * dirs
    state_shape = (layers * dirs, n, h)
    x, h_last, c_last = ctx.x(0), [], []
    n_out = 3 if mode == "lstm" else 2
    for layer, (W, R, B) in enumerate(per_layer):
        ins = [x, ctx.weight(f"l{layer}/W", W), ctx.weight(f"l{layer}/R", R), ctx.weight(f"l{layer}/B", B), "",
               _state(ctx, 2, layer, dirs, state_shape)]
        if mode == "lstm":
            ins.append(_state(ctx, 3, layer, dirs, state_shape))
        while ins[-1] == "":
            ins.pop()
        outs = ctx.b.node(ir_op, ins, attrs, name=f"{ctx.name}/l{layer}", outputs=n_out)
        ctx.s.shapes[outs[0]] = (t, dirs, n, h)
        y = ctx.op("Transpose", outs[0], dims=(t, n, dirs, h), hint=f"l{layer}/y", perm=Y_TO_MXNET)
        if layer == layers - 1:
            ctx.out("Reshape", [y], (t, n, dirs * h), shape=[0, 0, dirs * h])
        else:
            x = ctx.op("Reshape", y, dims=(t, n, dirs * h), hint=f"l{layer}/out", shape=[0, 0, dirs * h])
        h_last.append(outs[1])
        if mode == "lstm":
            c_last.append(outs[2])
    for k, states in ((1, h_last), (2, c_last)):
        if k in used and states:
            for s in states:
                ctx.s.shapes[s] = (dirs, n, h)
            if len(states) == 1:
                ctx.out("Identity", states, state_shape, index=k)
            else:
                ctx.out("Concat", states, state_shape, index=k, axis=0)
