"""LSTM / GRU / RNN as nn.LSTM / nn.GRU / nn.RNN, gate blocks reordered from the IR's
ONNX order (LSTM i,o,f,c; GRU z,r,h) to torch's (LSTM i,f,g,o; GRU r,z,n)."""
from __future__ import annotations

import numpy as np

from ...ir.optable.rnn import reorder_gates
from .context import TorchContext, attr, unsupported_attr
from .registry import register
from .rnn_loop import export_rnn_loop, needs_loop


def reorder(w: np.ndarray, op: str) -> np.ndarray:
    return reorder_gates(w, op, "onnx", "torch")


def _nonlinearity(node) -> str | None:
    """nn.RNN's nonlinearity (the loop in rnn_loop handles every other activation)."""
    if node.op != "RNN":
        return None
    return (list(attr(node, "activations") or []) or ["Tanh"])[0].lower()


@register("LSTM", "GRU", "RNN")
def export_rnn(ctx: TorchContext, node):
    if needs_loop(node):
        export_rnn_loop(ctx, node)
        return
    nonlinearity = _nonlinearity(node)
    layout, hidden = attr(node, "layout"), int(attr(node, "hidden_size"))
    w, r, b = _weights(node, ctx)
    dirs = w.shape[0]
    kwargs = dict(num_layers=1, bias=b is not None, batch_first=layout == 1, bidirectional=dirs == 2)
    if nonlinearity is not None:
        kwargs["nonlinearity"] = nonlinearity
    m = ctx.layer(node, f"nn.{node.op}", [int(w.shape[2]), hidden], kwargs, _state_dict(node.op, w, r, b))
    x = ctx.x(node.inputs[0])
    h0 = _initial_states(node, ctx, layout)
    call = f"{m}({x})" if not h0 else (f"{m}({x}, ({h0[0]}, {h0[1]}))" if node.op == "LSTM" else f"{m}({x}, {h0[0]})")
    y, hn, cn = ctx.tmp(node.name + "_y"), ctx.tmp(node.name + "_h"), ctx.tmp(node.name + "_c")
    ctx.line(f"{y}, ({hn}, {cn}) = {call}" if node.op == "LSTM" else f"{y}, {hn} = {call}")
    _assign_outputs(node, ctx, (y, hn, cn), layout, dirs, hidden)


def _weights(node, ctx: TorchContext) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(W, R, B or None), all stored weights."""
    w, r = ctx.weight(node.inputs[1]), ctx.weight(node.inputs[2])
    has_b = len(node.inputs) > 3 and bool(node.inputs[3])
    b = ctx.weight(node.inputs[3]) if has_b else None
    if w is None or r is None or (has_b and b is None):
        raise unsupported_attr("W/R/B", node.inputs[1:4], "a torch layer needs constant weights")
    return w, r, b


def _state_dict(op: str, w: np.ndarray, r: np.ndarray, b: np.ndarray | None) -> dict[str, np.ndarray]:
    """The torch layer's parameters, gate blocks in torch's order, per direction."""
    state = {}
    for d, suffix in zip(range(w.shape[0]), ("", "_reverse")):
        state[f"weight_ih_l0{suffix}"] = reorder(w[d], op)
        state[f"weight_hh_l0{suffix}"] = reorder(r[d], op)
        if b is not None:
            wb, rb = np.split(b[d], 2)
            state[f"bias_ih_l0{suffix}"] = reorder(wb, op)
            state[f"bias_hh_l0{suffix}"] = reorder(rb, op)
    return state


def _initial_states(node, ctx: TorchContext, layout: int) -> list[str]:
    """The initial state expressions the layer call takes (torch: both or none for LSTM)."""
    ins = dict(zip(["initial_h", "initial_c"], (node.inputs + ["", "", "", "", "", "", ""])[5:7]))
    h0 = [ctx.x(v) for k, v in ins.items() if v and (k == "initial_h" or node.op == "LSTM")]
    if layout == 1:  # torch states are (dirs, batch, hidden) even with batch_first
        h0 = [f"{h}.transpose(0, 1)" for h in h0]
    if node.op == "LSTM" and len(h0) == 1 or (node.op == "LSTM" and bool(ins["initial_c"]) != bool(ins["initial_h"])):
        raise unsupported_attr("initial_h/initial_c", [ins["initial_h"], ins["initial_c"]], "torch needs both or none")
    return h0


def _assign_outputs(node, ctx: TorchContext, results: tuple[str, str, str], layout: int, dirs: int,
                    hidden: int) -> None:
    """IR Y / Y_h / Y_c from torch's: torch Y is (seq, batch, dirs*hidden) [layout 0] or
    (batch, seq, dirs*hidden); IR Y has a dirs axis."""
    y, hn, cn = results
    outs = list(node.outputs) + ["", "", ""]
    if outs[0]:
        if layout == 0:
            ctx.assign(outs[0], f"{y}.reshape({y}.shape[0], {y}.shape[1], {dirs}, {hidden}).permute(0, 2, 1, 3)")
        else:
            ctx.assign(outs[0], f"{y}.reshape({y}.shape[0], {y}.shape[1], {dirs}, {hidden})")
    for value, t in ((outs[1], hn), (outs[2], cn)):
        if value:
            ctx.assign(value, t if layout == 0 else f"{t}.transpose(0, 1)")
