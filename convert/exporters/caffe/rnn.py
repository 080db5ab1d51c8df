"""IR LSTM -> Caffe LSTM layers, exactly.

Caffe's LSTM reads time-major x (T, N, D) and a ``cont`` blob (T, N) that is 0 where a
sequence starts (the state is reset there: Caffe otherwise carries the last state over
from the previous forward pass) and 1 elsewhere. ``cont`` is computed inside the net
from x itself, so the net keeps one input: Power with scale 0 writes a constant
whatever x holds (Caffe computes pow(shift, power) directly). Gate order i, f, o, g;
one bias b_c (the IR's Wb + Rb). A reverse direction is a second LSTM on x reversed in
time (Slice + Concat over the static T), its output reversed back. Caffe's RNN layer
is not exported: its top is tanh(W_ho h_t + b_o), not h_t, and GRU has no Caffe layer.
"""
from __future__ import annotations

import numpy as np

from ...ir.optable.rnn import DEFAULT_ACTIVATIONS, reorder_gates
from .context import attr, bad
from .registry import register
from .shape_ops import permute, reshape



def _reorder(w: np.ndarray) -> np.ndarray:
    return reorder_gates(w, "LSTM", "onnx", "caffe")


def _zero_or_absent(ctx, name: str) -> bool:
    if not name:
        return True
    c = ctx.const(name)
    return c is not None and not np.any(c)


def _check(node, ctx) -> None:
    x, *rest = list(node.inputs) + [""] * (8 - len(node.inputs))
    seq_lens, h0, c0, peep = rest[3:7]
    acts = attr(node, "activations")
    if acts and [a.lower() for a in acts] != [a.lower() for a in DEFAULT_ACTIVATIONS["LSTM"]] * (len(acts) // 3):
        raise bad("activations", acts, "Caffe's LSTM uses sigmoid, tanh, tanh only")
    if attr(node, "clip") is not None:
        raise bad("clip", attr(node, "clip"), "Caffe's LSTM does not clip")
    if attr(node, "input_forget"):
        raise bad("input_forget", 1, "Caffe's LSTM has no coupled input-forget gate")
    if seq_lens:
        raise bad("sequence_lens", seq_lens, "Caffe's LSTM runs every sequence to the full length")
    for what, name in (("initial_h", h0), ("initial_c", c0), ("P", peep)):
        if not _zero_or_absent(ctx, name):
            raise bad(what, name, "Caffe's LSTM starts from zero state and has no peepholes")
    for name in node.inputs[1:4]:
        if name and ctx.const(name) is None:
            raise bad("weights", name, "LSTM weights must be constants")
    y_c = node.outputs[2] if len(node.outputs) > 2 else ""
    if y_c and (ctx.consumers.get(y_c) or y_c in ctx.graph_outputs):
        raise bad("Y_c", y_c, "Caffe's LSTM does not expose its last cell state (expose_hidden is not written)")


def _reverse_time(ctx, x: str, y: str, t_len: int, suffix: str) -> None:
    """y = x[::-1] along axis 0: Slice into T steps, Concat them in reverse order."""
    if t_len == 1:
        ctx.add("Split", [x], [y], suffix=suffix)
        return
    steps = [ctx.tmp(f"{suffix}_t{t}") for t in range(t_len)]
    p = ctx.add("Slice", [x], steps, suffix=f"{suffix}/steps").slice_param
    p.axis = 0
    p.slice_point.extend(range(1, t_len))
    ctx.add("Concat", steps[::-1], [y], suffix=suffix).concat_param.axis = 0


def _cont(ctx, x: str, shape: tuple, batch_dyn: bool) -> str:
    """cont (T, N): 0 at t = 0, 1 after, computed from x (T, N, D) by constant Powers."""
    t_len, n, d = shape
    col = x
    if d > 1:
        col, rest = ctx.tmp("cont_col"), ctx.tmp("cont_rest")
        p = ctx.add("Slice", [x], [col, rest], suffix="cont/col").slice_param
        p.axis, p.slice_point[:] = 2, [1]
    flat = ctx.tmp("cont_tn")
    reshape(ctx, col, flat, [t_len, n], keep_first=True, dynamic={1} if batch_dyn else (), suffix="cont/tn")
    cont = ctx.tmp("cont")
    if t_len == 1:
        ctx.power(flat, cont, scale=0.0, shift=0.0, suffix="cont")
        return cont
    first, later = ctx.tmp("cont_first"), ctx.tmp("cont_later")
    p = ctx.add("Slice", [flat], [first, later], suffix="cont/split").slice_param
    p.axis, p.slice_point[:] = 0, [1]
    zeros, ones = ctx.tmp("cont_zeros"), ctx.tmp("cont_ones")
    ctx.power(first, zeros, scale=0.0, shift=0.0, suffix="cont/start")
    ctx.power(later, ones, scale=0.0, shift=1.0, suffix="cont/carry")
    ctx.add("Concat", [zeros, ones], [cont], suffix="cont").concat_param.axis = 0
    return cont


@register("LSTM")
def export_lstm(ctx, node):
    """One Caffe LSTM per direction (layout 0 or 1; Y and Y_h; Y_c only if unused)."""
    _check(node, ctx)
    layout = int(attr(node, "layout"))
    x = ctx.activation(node.inputs[0])
    shp = ctx.shape(x)
    if len(shp) != 3:
        raise bad("X", shp, "a 3-D sequence input")
    t_len, n, d = shp if layout == 0 else (shp[1], shp[0], shp[2])
    dyn = ctx.dynamic(x)
    if (0 if layout == 0 else 1) in dyn:
        raise bad("X", node.inputs[0], "Caffe's LSTM export needs a static sequence length")
    batch_dyn = (1 if layout == 0 else 0) in dyn  # the batch follows a symbolic input dim
    if layout == 1:
        xt = ctx.tmp("time_major")
        permute(ctx, x, xt, (1, 0, 2), shp, dyn, suffix="time_major")
        x = xt
    h = int(attr(node, "hidden_size"))
    w, r = ctx.const(node.inputs[1]), ctx.const(node.inputs[2])
    b = ctx.const(node.inputs[3]) if len(node.inputs) > 3 and node.inputs[3] else None
    dirs = w.shape[0]
    reverse = _directions(node)
    cont = _cont(ctx, x, (t_len, n, d), batch_dyn)

    hs = []  # per direction, (T, N, H) in the original time order
    for k, rev in enumerate(reverse):
        bias = np.zeros(8 * h, np.float32) if b is None else b[k]
        blobs = [_reorder(w[k]), _reorder(bias[:4 * h] + bias[4 * h:]), _reorder(r[k])]
        src = x
        if rev:
            src = ctx.tmp("reversed_in")
            _reverse_time(ctx, x, src, t_len, "reverse_in")
        top = ctx.tmp("reverse_out" if rev else "h_seq")
        lp = ctx.add("LSTM", [src, cont], [top], blobs=blobs, suffix="reverse" if rev and dirs > 1 else "")
        lp.recurrent_param.num_output = h
        if rev:
            back = ctx.tmp("h_seq_rev")
            _reverse_time(ctx, top, back, t_len, "reverse_out")
            top = back
        hs.append(top)
    _outputs(node, ctx, hs, layout, (t_len, n, h), batch_dyn)


def _join(ctx, parts: list[str], y: str, axis: int, suffix: str) -> None:
    if len(parts) == 1:
        ctx.add("Split", parts, [y], suffix=suffix)
    else:
        ctx.add("Concat", parts, [y], suffix=suffix).concat_param.axis = axis


def _outputs(node, ctx, hs: list[str], layout: int, tnh: tuple, batch_dyn: bool) -> None:
    """Y (layout 0: T, dirs, N, H) and Y_h (dirs, N, H) from the per-direction outputs.
    The usual Y -> Transpose(0, 2, 1, 3) -> Reshape(T, N, dirs*H) is one Concat on axis 2."""
    t_len, n, h = tnh
    dirs = len(hs)
    y = node.outputs[0] if node.outputs else ""
    tr = ctx.sole_consumer(y) if y and layout == 0 else None
    if tr is not None and tr.op == "Transpose" and list(attr(tr, "perm") or []) == [0, 2, 1, 3]:
        rs = ctx.sole_consumer(tr.outputs[0])
        if rs is not None and rs.op in ("Reshape", "Flatten") and ctx.shape(rs.outputs[0]) == (t_len, n, dirs * h):
            ctx.done.update({tr.name, rs.name})
            _join(ctx, hs, rs.outputs[0], 2, "")
            y = ""
    if y:
        tops = []
        for k, part in enumerate(hs):
            tops.append(ctx.tmp(f"y_dir{k}"))
            reshape(ctx, part, tops[-1], [t_len, 1, n, h], keep_first=True, dynamic={2} if batch_dyn else (),
                    suffix=f"y_dir{k}")
        if layout == 0:
            _join(ctx, tops, y, 1, "")
        else:
            tdnh = ctx.tmp("y_time_major")
            _join(ctx, tops, tdnh, 1, "y_join")
            permute(ctx, tdnh, y, (2, 0, 1, 3), (t_len, dirs, n, h), {2} if batch_dyn else set())
    y_h = node.outputs[1] if len(node.outputs) > 1 else ""
    if y_h and (ctx.consumers.get(y_h) or y_h in ctx.graph_outputs):
        last = []
        for k, (part, rev) in enumerate(zip(hs, _directions(node))):
            if t_len == 1:
                last.append(part)
                continue
            # a forward direction ends at t = T-1, a reverse one at t = 0
            tops = [ctx.tmp(f"y_h{k}_a"), ctx.tmp(f"y_h{k}_b")]
            p = ctx.add("Slice", [part], tops, suffix=f"y_h{k}").slice_param
            p.axis, p.slice_point[:] = 0, [1 if rev else t_len - 1]
            last.append(tops[0] if rev else tops[1])
        if layout == 0:
            _join(ctx, last, y_h, 0, "y_h")
        else:  # (N, dirs, H)
            dnh = ctx.tmp("y_h_dirs_first")
            _join(ctx, last, dnh, 0, "y_h_join")
            permute(ctx, dnh, y_h, (1, 0, 2), (dirs, n, h), {1} if batch_dyn else set(), suffix="y_h")


def _directions(node) -> list[bool]:
    """Per direction, whether it runs backwards in time."""
    return {"forward": [False], "reverse": [True], "bidirectional": [False, True]}[attr(node, "direction")]
