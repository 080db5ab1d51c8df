"""Wrappers: Bidirectional (one bidirectional IR node) and TimeDistributed."""
from __future__ import annotations

import numpy as np

from .. import layout as L
from ..archive import LayerWeights
from ..context import Call, KerasContext, Ref, unsupported
from ..registry import KERAS_LAYERS, register
from . import rnn

MERGE = {"sum": "ReduceSum", "ave": "ReduceMean", "mul": "ReduceProd"}


@register("Bidirectional", emits=("Reshape", "Split", "Squeeze", "Transpose", *rnn.IR_OP.values(), *MERGE.values()))
def import_bidirectional(ctx: KerasContext, node: Call) -> list[Ref]:
    fwd = node.cfg["layer"]
    bwd = node.cfg.get("backward_layer") or {**fwd, "config": {**fwd["config"], "go_backwards": True}}
    kind = fwd["class_name"]
    if kind not in rnn.GATES or bwd["class_name"] != kind:
        raise unsupported("layer", kind, "Bidirectional over LSTM, GRU or SimpleRNN")
    fc, bc = fwd["config"], bwd["config"]
    rnn.check_cell(kind, fc)
    if fc.get("go_backwards") or not bc.get("go_backwards"):
        raise unsupported("backward_layer", "go_backwards", "forward layer forwards, backward layer backwards")
    if int(fc["units"]) != int(bc["units"]) or bool(fc.get("return_sequences")) != bool(bc.get("return_sequences")):
        raise unsupported("backward_layer", bc.get("units"), "same units and return_sequences in both directions")
    for key in ("activation", "recurrent_activation", "reset_after", "use_bias"):
        if fc.get(key) != bc.get(key):
            raise unsupported(f"backward_layer.{key}", bc.get(key), "same settings in both directions")
    mode = node.get("merge_mode", "concat")
    r = node.inputs[0]
    fs, bs = rnn.weight_shapes(kind, fc, r.shape[-1]), rnn.weight_shapes(kind, bc, r.shape[-1])
    arrays = node.take(*fs, *bs)
    seqs = bool(fc.get("return_sequences"))
    initial = list(node.kwargs.get("initial_state", [])) or list(node.inputs[1:])
    y, yh, yc = rnn.emit(ctx, kind, [fc, bc], [arrays[:len(fs)], arrays[len(fs):]], r, "bidirectional",
                         initial, seqs)
    h, batch = int(fc["units"]), r.shape[0]
    if seqs:
        # Keras flips the backward sequence back, so it is aligned with the input, as Y is.
        outs = _merge(ctx, y, mode, dir_axis=1, seq=True, h=h)
        refs = [ctx.ref(v, (batch, r.shape[1], n), L.TIME_MAJOR) for v, n in outs]
    else:
        outs = _merge(ctx, yh, mode, dir_axis=0, seq=False, h=h)
        refs = [ctx.ref(v, (batch, n)) for v, n in outs]
    if fc.get("return_state"):
        states = [yh, yc] if kind == "LSTM" else [yh]
        split = [ctx.node("Split", [s], {"axis": 0}, outputs=2, suffix=f"state{i}") for i, s in enumerate(states)]
        for d in range(2):
            for i, parts in enumerate(split):
                v = ctx.op("Squeeze", parts[d], suffix=f"state{i}_{d}", axes=[0])
                refs.append(ctx.ref(v, (batch, h)))
    return refs


def _merge(ctx: KerasContext, y: str, mode, dir_axis: int, seq: bool, h: int) -> list[tuple[str, int]]:
    if mode == "concat":
        if seq:  # (seq, 2, batch, h) -> (seq, batch, 2, h) -> (seq, batch, 2h)
            t = ctx.op("Transpose", y, suffix="dirs", perm=list(L.RNN_DIRS_INNER))
            return [(ctx.op("Reshape", t, suffix="concat", shape=[0, 0, -1]), 2 * h)]
        t = ctx.op("Transpose", y, suffix="dirs", perm=[1, 0, 2])  # (2, batch, h) -> (batch, 2, h)
        return [(ctx.op("Reshape", t, suffix="concat", shape=[0, -1]), 2 * h)]
    if mode in MERGE:
        return [(ctx.node(MERGE[mode], [y], {"axes": [dir_axis], "keepdims": 0}, suffix=mode)[0], h)]
    if mode is None:
        parts = ctx.node("Split", [y], {"axis": dir_axis}, outputs=2, suffix="split")
        return [(ctx.op("Squeeze", p, suffix=f"dir{i}", axes=[dir_axis]), h) for i, p in enumerate(parts)]
    raise unsupported("merge_mode", mode, "concat, sum, ave, mul or None")


@register("TimeDistributed", emits=("Dropout", "Reshape"))
def import_time_distributed(ctx: KerasContext, node: Call) -> list[Ref]:
    """Dense-like inner layers act on the last axis and run on the sequence as is; others
    run on (batch*time, ...) and are reshaped back."""
    inner = node.cfg["layer"]
    cls = inner["class_name"]
    handler = KERAS_LAYERS.lookup(cls)
    if handler is None or cls in ("TimeDistributed", "Bidirectional") or cls in rnn.GATES:
        raise unsupported("layer", cls, "TimeDistributed over a stateless layer")
    r = node.inputs[0]
    sub = Call(cls, node.name, node.path, inner["config"], [r], {}, LayerWeights(node.weights.arrays), node.file)
    if cls in ("Dense", "Activation", "Dropout"):
        return handler(ctx, sub)
    if any(d is None for d in r.shape[2:]) or r.shape[1] is None:
        raise unsupported("input_shape", r.shape, "TimeDistributed needs fixed time and feature sizes")
    t = r.shape[1]
    flat = ctx.op("Reshape", ctx.get(r, L.identity(r.rank)), suffix="merge_time", shape=[-1, *r.shape[2:]])
    sub.inputs = [ctx.ref(flat, (None, *r.shape[2:]))]
    (out,) = handler(ctx, sub)
    if any(d is None for d in out.shape[1:]):
        raise unsupported("output_shape", out.shape, "TimeDistributed needs a fixed inner output size")
    y = ctx.op("Reshape", ctx.get(out, L.identity(out.rank)), suffix="split_time", shape=[-1, t, *out.shape[1:]])
    return [ctx.ref(y, (r.shape[0], t, *out.shape[1:]))]
