"""LSTM / GRU / RNN as nn.LSTM / nn.GRU / nn.RNN, gate blocks reordered from the IR's
ONNX order (LSTM i,o,f,c; GRU z,r,h) to torch's (LSTM i,f,g,o; GRU r,z,n)."""
from __future__ import annotations

import numpy as np

from ...ir.optable.rnn import DEFAULT_ACTIVATIONS, reorder_gates
from .context import TorchContext, attr, unsupported_attr
from .registry import register


def reorder(w: np.ndarray, op: str) -> np.ndarray:
    return reorder_gates(w, op, "onnx", "torch")


def _check(node, ctx: TorchContext) -> str | None:
    """Problems torch layers cannot express; returns RNN's nonlinearity."""
    names = ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"]
    for i, v in enumerate(node.inputs[4:], 4):
        if v and names[i] in ("sequence_lens", "P"):
            raise unsupported_attr(names[i], v, "torch recurrent layers take padded full-length sequences, no peepholes")
    if attr(node, "clip") is not None:
        raise unsupported_attr("clip", attr(node, "clip"), "torch has no cell clipping")
    if node.op == "LSTM" and attr(node, "input_forget"):
        raise unsupported_attr("input_forget", 1)
    dirs = 2 if attr(node, "direction") == "bidirectional" else 1
    acts = list(attr(node, "activations") or [])
    if node.op == "RNN":
        act = acts[0] if acts else "Tanh"
        if any(a != act for a in acts) or act not in ("Tanh", "Relu"):
            raise unsupported_attr("activations", acts, "nn.RNN has tanh or relu")
        return act.lower()
    if acts and acts != list(DEFAULT_ACTIVATIONS[node.op]) * dirs:
        raise unsupported_attr("activations", acts, "torch uses the default gate activations")
    return None


@register("LSTM", "GRU", "RNN")
def export_rnn(node, ctx: TorchContext):
    nonlinearity = _check(node, ctx)
    direction, layout, hidden = attr(node, "direction"), attr(node, "layout"), int(attr(node, "hidden_size"))
    if node.op == "GRU" and not attr(node, "linear_before_reset"):
        return _gru_reset_before_matmul(node, ctx, layout, hidden)
    w, r, b = _weights(node, ctx)
    dirs = w.shape[0]
    kwargs = dict(num_layers=1, bias=b is not None, batch_first=layout == 1, bidirectional=dirs == 2)
    if nonlinearity is not None:
        kwargs["nonlinearity"] = nonlinearity
    m = ctx.layer(node, f"nn.{node.op}", [int(w.shape[2]), hidden], kwargs, _state_dict(node.op, w, r, b))
    x = ctx.x(node.inputs[0])
    reverse = direction == "reverse"  # the forward layer on the time-reversed sequence, Y flipped back
    if reverse:
        x = f"torch.flip({x}, [{layout}])"  # the time axis is 0, or 1 with layout=1
    h0 = _initial_states(node, ctx, layout)
    call = f"{m}({x})" if not h0 else (f"{m}({x}, ({h0[0]}, {h0[1]}))" if node.op == "LSTM" else f"{m}({x}, {h0[0]})")
    y, hn, cn = ctx.tmp(node.name + "_y"), ctx.tmp(node.name + "_h"), ctx.tmp(node.name + "_c")
    ctx.line(f"{y}, ({hn}, {cn}) = {call}" if node.op == "LSTM" else f"{y}, {hn} = {call}")
    if reverse:
        ctx.line(f"{y} = torch.flip({y}, [{layout}])")
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


def _gru_reset_before_matmul(node, ctx: TorchContext, layout: int, hidden: int) -> None:
    """ONNX GRU with linear_before_reset=0 (its default), which nn.GRU cannot run: the reset
    gate scales the state before the recurrent matmul, h~ = tanh(x Wh + (r * h) Rh + bh).
    Written as a loop over time steps, one per direction (the reverse one from the end)."""
    w, r, b = _weights(node, ctx)
    dirs, h = w.shape[0], hidden
    b = np.zeros((dirs, 6 * h), w.dtype) if b is None else b
    x = ctx.x(node.inputs[0])
    seq = ctx.tmp("seq")
    ctx.line(f"{seq} = {x}" if layout == 0 else f"{seq} = {x}.transpose(0, 1)")  # (S, B, I)
    h0 = _initial_states(node, ctx, layout)
    ys, finals = [], []
    for d in range(dirs):
        reverse = d == 1 or attr(node, "direction") == "reverse"
        wd, rd = ctx.buffer(f"{node.name}_W{d}", w[d]), ctx.buffer(f"{node.name}_R{d}", r[d])
        wb, rb = ctx.buffer(f"{node.name}_Wb{d}", b[d, :3 * h]), ctx.buffer(f"{node.name}_Rb{d}", b[d, 3 * h:])
        gx, state, out = ctx.tmp(f"gx{d}"), ctx.tmp(f"h{d}"), ctx.tmp(f"y{d}")
        t, z, rg, n = ctx.tmp("t"), ctx.tmp("z"), ctx.tmp("r"), ctx.tmp("n")
        ctx.line(f"{gx} = {seq} @ {wd}.T + {wb}")  # the input half of every gate, all steps at once
        ctx.line(f"{state} = {h0[0]}[{d}]" if h0 else f"{state} = {seq}.new_zeros({seq}.shape[1], {h})")
        ctx.line(f"{out} = []")
        steps = f"range({seq}.shape[0] - 1, -1, -1)" if reverse else f"range({seq}.shape[0])"
        ctx.line(f"for {t} in {steps}:")
        ctx.line(f"    {z} = torch.sigmoid({gx}[{t}, :, :{h}] + {state} @ {rd}[:{h}].T + {rb}[:{h}])")
        mid = f"{h}:{2 * h}"
        ctx.line(f"    {rg} = torch.sigmoid({gx}[{t}, :, {mid}] + {state} @ {rd}[{mid}].T + {rb}[{mid}])")
        ctx.line(f"    {n} = torch.tanh({gx}[{t}, :, {2 * h}:] + ({rg} * {state}) @ {rd}[{2 * h}:].T + {rb}[{2 * h}:])")
        ctx.line(f"    {state} = (1 - {z}) * {n} + {z} * {state}")
        ctx.line(f"    {out}.append({state})")
        ys.append(f"torch.stack({out}[::-1], 0)" if reverse else f"torch.stack({out}, 0)")
        finals.append(state)
    y, hn = ctx.tmp(node.name + "_y"), ctx.tmp(node.name + "_h")
    ctx.line(f"{y} = torch.cat([{', '.join(ys)}], -1)" + ("" if layout == 0 else ".transpose(0, 1)"))
    ctx.line(f"{hn} = torch.stack([{', '.join(finals)}], 0)")
    _assign_outputs(node, ctx, (y, hn, ""), layout, dirs, h)
