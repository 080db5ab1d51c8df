"""Recurrent layers -> IR LSTM / GRU / RNN (ONNX conventions: time-major, gate order
LSTM i,o,f,c and GRU z,r,h).

Keras LSTM gates are i,f,c,o (reordered here); GRU gates z,r,h match, and reset_after=True
is linear_before_reset=1 with the (2, 3h) bias split into input and recurrent halves.
go_backwards: Keras runs over the reversed sequence and returns its outputs in processing
order; the IR op with direction="reverse" returns them aligned with the input, so the
sequence output is reversed once more.
"""
from __future__ import annotations

import numpy as np

from ....ir.optable.rnn import reorder_gates
from .. import layout as L
from ..context import Call, KerasContext, Ref, unsupported
from ..registry import register
from .activations import activation_name

GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}
IR_OP = {"LSTM": "LSTM", "GRU": "GRU", "SimpleRNN": "RNN"}
STATES = {"LSTM": 2, "GRU": 1, "SimpleRNN": 1}
ONNX_ACT = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "softsign": "Softsign", "softplus": "Softplus"}
INT64_MAX = int(np.iinfo(np.int64).max)


def _act(cfg: dict, key: str, default: str) -> str:
    name = activation_name(cfg.get(key, default))
    if name not in ONNX_ACT:
        raise unsupported(key, name, f"recurrent activations: {', '.join(ONNX_ACT)}")
    return ONNX_ACT[name]


def check_cell(kind: str, cfg: dict) -> None:
    for key in ("stateful", "time_major"):
        if cfg.get(key):
            raise unsupported(key, True)


def ir_weights(kind: str, cfg: dict, arrays: list[np.ndarray], n_in: int):
    """Keras (kernel, recurrent_kernel, bias?) -> IR W, R, B for one direction."""
    h = int(cfg["units"])
    g = GATES[kind]
    reset_after = kind == "GRU" and cfg.get("reset_after", True)
    W, R = arrays[0].T, arrays[1].T
    if cfg.get("use_bias", True):
        b = arrays[2]
        B = b.reshape(-1) if reset_after else np.concatenate([b, np.zeros_like(b)])
    else:
        B = np.zeros(2 * g * h, np.float32)
    op = IR_OP[kind]
    W, R = reorder_gates(W, op, "keras", "onnx"), reorder_gates(R, op, "keras", "onnx")
    B = np.concatenate([reorder_gates(B[:g * h], op, "keras", "onnx"), reorder_gates(B[g * h:], op, "keras", "onnx")])
    return W, R, B


def weight_shapes(kind: str, cfg: dict, n_in: int) -> list:
    h, g = int(cfg["units"]), GATES[kind]
    shapes = [(n_in, g * h), (h, g * h)]
    if cfg.get("use_bias", True):
        shapes.append((2, g * h) if kind == "GRU" and cfg.get("reset_after", True) else (g * h,))
    return shapes


def emit(ctx: KerasContext, kind: str, cfgs: list[dict], weights: list[list[np.ndarray]], x_ref: Ref,
         direction: str, initial: list[Ref], want_y: bool) -> tuple[str, str, str]:
    """One IR recurrent node for one or two directions; returns (Y, Y_h, Y_c) names ('' if unused)."""
    cfg = cfgs[0]
    h = int(cfg["units"])
    acts = [_act(cfg, "recurrent_activation", "sigmoid"), _act(cfg, "activation", "tanh")]
    if kind == "LSTM":
        acts.append(acts[1])
    elif kind == "SimpleRNN":
        acts = [_act(cfg, "activation", "tanh")]
    per_dir = [ir_weights(kind, c, w, x_ref.shape[-1]) for c, w in zip(cfgs, weights)]
    W, R, B = (np.stack([p[i] for p in per_dir]) for i in range(3))
    x = ctx.get(x_ref, L.TIME_MAJOR)
    ins = [x, ctx.const("W", W), ctx.const("R", R), ctx.const("B", B), ""]
    n_states = STATES[kind]
    if initial:
        if len(initial) != n_states * len(cfgs):
            raise unsupported("initial_state", len(initial), f"{n_states * len(cfgs)} state tensors")
        for s in range(n_states):
            parts = [ctx.op("Unsqueeze", ctx.get(initial[d * n_states + s], L.identity(2)),
                            suffix=f"init{d}_{s}", axes=[0]) for d in range(len(cfgs))]
            ins.append(parts[0] if len(parts) == 1 else ctx.node("Concat", parts, {"axis": 0}, suffix=f"init{s}")[0])
    while ins[-1] == "":
        ins.pop()
    base = ctx.call.name
    outs = [f"{base}/Y" if want_y else "", f"{base}/Y_h"] + ([f"{base}/Y_c"] if kind == "LSTM" else [])
    attrs = {"hidden_size": h, "direction": direction, "activations": acts * len(cfgs)}  # ONNX: per direction
    if kind == "GRU":
        attrs["linear_before_reset"] = int(bool(cfg.get("reset_after", True)))
    res = ctx.b.node(IR_OP[kind], ins, attrs, name=base, outputs=outs)
    return res[0], res[1], res[2] if kind == "LSTM" else ""


def reverse_time(ctx: KerasContext, y: str) -> str:
    return ctx.op("Slice", y, suffix="reverse", starts=[-1], ends=[-INT64_MAX], axes=[0], steps=[-1])


def _initial(call: Call) -> list[Ref]:
    return list(call.kwargs.get("initial_state", [])) or list(call.inputs[1:])


@register("LSTM", "GRU", "SimpleRNN", emits=("Concat", "Slice", "Squeeze", "Unsqueeze", *IR_OP.values()))
def import_recurrent(ctx: KerasContext, node: Call) -> list[Ref]:
    kind = node.cls
    cfg = node.cfg
    check_cell(kind, cfg)
    r = node.inputs[0]
    arrays = node.take(*weight_shapes(kind, cfg, r.shape[-1]))
    seqs = bool(cfg.get("return_sequences"))
    back = bool(cfg.get("go_backwards"))
    y, yh, yc = emit(ctx, kind, [cfg], [arrays], r, "reverse" if back else "forward", _initial(node), seqs)
    h = int(cfg["units"])
    batch = r.shape[0]
    outs = []
    if seqs:
        s = ctx.op("Squeeze", y, suffix="squeeze", axes=[1])
        if back:
            s = reverse_time(ctx, s)
        outs.append(ctx.ref(s, (batch, r.shape[1], h), L.TIME_MAJOR))
    last_h = ctx.op("Squeeze", yh, suffix="h", axes=[0])
    if not seqs:
        outs.append(ctx.ref(last_h, (batch, h)))
    if cfg.get("return_state"):
        outs.append(ctx.ref(last_h, (batch, h)))
        if kind == "LSTM":
            outs.append(ctx.ref(ctx.op("Squeeze", yc, suffix="c", axes=[0]), (batch, h)))
    return outs
